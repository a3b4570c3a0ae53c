# One CMake library per folder of src/, and the layers between them enforced by the compiler.
#
# Every header is included by its folder ("model/network.h"), and all folders sit under one src/, so an include path
# of src/ would let any file include any other. Instead each library compiles against its own folder of the build
# tree, build/layers/<folder>/, that holds one symbolic link per folder it may use: itself and the closure of what it
# DEPENDS on. An include of any other folder is then "No such file or directory" at compile time: a file in
# checkpoint/ that includes "train/trainer.h" does not build.
#
#   bilmod_layer(<folder> [DEPENDS <folder>...])  defines bilmod_<folder> from src/<folder>/*.cc
#   bilmod_layer_include_dir(<folder> <var>)      the include folder a target in that layer compiles against
#
# Dependencies must be declared before they are used (the layers are listed bottom-up), which also rules out cycles.

set(BILMOD_LAYERS_DIR ${CMAKE_BINARY_DIR}/layers)
set(BILMOD_LAYERS "")

function(bilmod_layer_include_dir folder out_var)
  set(${out_var} ${BILMOD_LAYERS_DIR}/${folder} PARENT_SCOPE)
endfunction()

function(_bilmod_layer_links folder closure)
  set(dir ${BILMOD_LAYERS_DIR}/${folder})
  file(REMOVE_RECURSE ${dir})  # a dependency dropped since the last configure must disappear from the path
  file(MAKE_DIRECTORY ${dir})
  foreach(visible ${closure})
    file(CREATE_LINK ${CMAKE_SOURCE_DIR}/src/${visible} ${dir}/${visible} SYMBOLIC)
  endforeach()
endfunction()

function(bilmod_layer folder)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "DEPENDS")
  set(closure ${folder})
  foreach(dep ${ARG_DEPENDS})
    get_property(defined GLOBAL PROPERTY BILMOD_LAYER_${dep}_CLOSURE SET)
    if(NOT defined)
      message(FATAL_ERROR "src/${folder} depends on src/${dep}, which is not defined below it in CMakeLists.txt")
    endif()
    get_property(dep_closure GLOBAL PROPERTY BILMOD_LAYER_${dep}_CLOSURE)
    list(APPEND closure ${dep_closure})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set_property(GLOBAL PROPERTY BILMOD_LAYER_${folder}_CLOSURE ${closure})
  _bilmod_layer_links(${folder} "${closure}")

  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/${folder}/*.cc)
  add_library(bilmod_${folder} STATIC ${sources})
  target_include_directories(bilmod_${folder} PRIVATE ${BILMOD_LAYERS_DIR}/${folder})
  foreach(dep ${ARG_DEPENDS})
    target_link_libraries(bilmod_${folder} PUBLIC bilmod_${dep})
  endforeach()
  set_property(GLOBAL APPEND PROPERTY BILMOD_LAYERS ${folder})
endfunction()

# The closure of a layer, for an executable that sits above them all (the command line).
function(bilmod_layer_top name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "DEPENDS")
  set(closure ${name})
  foreach(dep ${ARG_DEPENDS})
    get_property(dep_closure GLOBAL PROPERTY BILMOD_LAYER_${dep}_CLOSURE)
    list(APPEND closure ${dep_closure})
  endforeach()
  list(REMOVE_DUPLICATES closure)
  set_property(GLOBAL PROPERTY BILMOD_LAYER_${name}_CLOSURE ${closure})
  _bilmod_layer_links(${name} "${closure}")
endfunction()
