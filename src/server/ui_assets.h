// The web UI's files (ui/, built by npm and embedded by cmake/embed_ui.cmake): index.html and
// assets/*. None when Node.js was missing at build time.
#pragma once

#include <cstddef>

namespace sightline::server {

struct UiAsset {
  const char* path;  // relative to the UI's root: "index.html", "assets/index-abc.js"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};
extern const UiAsset kUiAssets[];
extern const size_t kUiAssetCount;

}  // namespace sightline::server
