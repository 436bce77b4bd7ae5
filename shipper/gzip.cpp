#include "shipper/gzip.h"

#include <zlib.h>

#include <memory>
#include <stdexcept>

namespace etp2s {
namespace {
struct Deflater {
  z_stream z{};
  explicit Deflater(int level) {
    if (deflateInit2(&z, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      throw std::runtime_error("deflateInit2 failed");
    }
  }
  ~Deflater() { deflateEnd(&z); }
};
struct Inflater {
  z_stream z{};
  Inflater() {
    if (inflateInit2(&z, 15 + 16) != Z_OK) throw std::runtime_error("inflateInit2 failed");
  }
  ~Inflater() { inflateEnd(&z); }
};
}  // namespace

std::string gzip_compress(std::string_view data, int level) {
  Deflater d(level);
  std::string out(deflateBound(&d.z, data.size()) + 32, '\0');
  d.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  d.z.avail_in = static_cast<uInt>(data.size());
  d.z.next_out = reinterpret_cast<Bytef*>(out.data());
  d.z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&d.z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate failed");
  out.resize(d.z.total_out);
  return out;
}

std::optional<std::string> gzip_decompress(std::string_view data, std::size_t max_out) {
  Inflater in;
  std::string out;
  char buf[65536];
  in.z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  in.z.avail_in = static_cast<uInt>(data.size());
  for (;;) {
    in.z.next_out = reinterpret_cast<Bytef*>(buf);
    in.z.avail_out = sizeof buf;
    int rc = inflate(&in.z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) return std::nullopt;
    out.append(buf, sizeof buf - in.z.avail_out);
    if (out.size() > max_out) return std::nullopt;
    if (rc == Z_STREAM_END) return out;
    if (in.z.avail_in == 0 && in.z.avail_out != 0) return std::nullopt;  // truncated
  }
}

}  // namespace etp2s
