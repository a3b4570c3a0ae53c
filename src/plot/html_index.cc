#include "plot/html_index.h"

#include <filesystem>

#include "util/atomic_file.h"

namespace bilmod {

namespace fs = std::filesystem;

namespace {
std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string file_name(const std::string& path) { return fs::path(path).filename().string(); }
}  // namespace

Status write_figure_index(const FigureIndex& index, const std::string& dir, std::string* path) {
  std::string html =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>" + escape(index.title) +
      "</title>\n<style>\n"
      "body { font-family: 'DejaVu Sans', sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; color: "
      "#222; }\n"
      "figure { margin: 2.5em 0; } img { max-width: 100%; border: 1px solid #ddd; }\n"
      "figcaption { margin-top: 0.5em; line-height: 1.4; } .files { font-size: 0.9em; color: #555; }\n"
      ".note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 1em; margin: 0.5em 0; }\n"
      "</style>\n</head>\n<body>\n<h1>" +
      escape(index.title) + "</h1>\n";
  for (const auto& line : index.summary) html += "<p>" + escape(line) + "</p>\n";
  for (const auto& note : index.notes) html += "<p class=\"note\">" + escape(note) + "</p>\n";
  html += "<nav><ul>\n";
  for (const auto& f : index.figures) html += "<li><a href=\"#" + f.name + "\">" + escape(f.name) + "</a></li>\n";
  html += "</ul></nav>\n";
  for (const auto& f : index.figures) {
    html += "<figure id=\"" + f.name + "\">\n<a href=\"" + file_name(f.svg) + "\"><img src=\"" + file_name(f.png) +
            "\" alt=\"" + escape(f.name) + "\"></a>\n<figcaption>" + escape(f.caption) + "<br><span class=\"files\">" +
            "<a href=\"" + file_name(f.svg) + "\">SVG</a> · <a href=\"" + file_name(f.png) + "\">PNG</a> · <a href=\"" +
            file_name(f.data) + "\">data</a> · <a href=\"" + file_name(f.script) + "\">gnuplot script</a></span>" +
            "</figcaption>\n</figure>\n";
  }
  html += "</body>\n</html>\n";
  *path = (fs::path(dir) / "index.html").string();
  return write_file_atomically(*path, html);
}

}  // namespace bilmod
