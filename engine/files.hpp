// engine/files.hpp — how impasto reads and writes files. Reading: only regular files of a bounded size (a FIFO
// would hang, /dev/zero would fill memory). Writing, the one way every writer goes: a file appears whole or not
// at all, and nobody who can write to the folder can redirect it. Every writer goes through here: images, .flo files, the video's
// state file and out.avi, exported weights.
//
//   1. The temp file is created in a private folder (mkdtemp, mode 0700) next to the target, named
//      "<target>.impasto-tmp-<pid>-XXXXXX", with O_CREAT|O_EXCL|O_NOFOLLOW: never an existing file, never a
//      planted link, and nobody else can add, swap or link anything inside.
//   2. The data is written through that descriptor. A library that opens files by name (HDF5, OpenCV) gets
//      /proc/self/fd/<folder>/<name>: it reaches this file through the folder's descriptor, so no rename of the
//      folder redirects it, and the name keeps the target's extension for libraries that choose a format by it.
//      Every write is checked: a full disk is a one-line error naming the target.
//   3. commit: fsync; the permissions a plain create would give (0666 & ~umask); then into place. Without
//      `replace`, a hard link, which fails when the target exists, even one that appeared meanwhile. With
//      `replace`, a rename, which replaces a link itself and never follows it. Then fsync of the folder.
//   4. A temp that is not committed is removed by the destructor. A killed process leaves one behind;
//      remove_stale_temps clears those whose process is gone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace impasto {

// An input file's size, after checking that `path` is a regular file (links followed) of at most max_bytes;
// else a one-line Error "WHAT 'PATH': no such file | is a directory | not a regular file (a FIFO, a device …) |
// N bytes, more than the limit of M".
std::uintmax_t check_input_file(const std::string& path, const char* what, std::uintmax_t max_bytes);

// The JSON in `path`, a file that impasto wrote and others may have changed (a video's state, the snapshot
// list): a regular file, not a link, of at most max_bytes, nested at most 64 deep (nlohmann parses
// recursively); else a one-line Error "WHAT 'PATH': …". Text that is not JSON comes back is_discarded().
nlohmann::json read_json_file(const std::string& path, const char* what, std::uintmax_t max_bytes);

class AtomicFile {
 public:
  // Creates the temp file next to `target`. Throws an Error naming the target when the folder is missing or
  // not writable.
  explicit AtomicFile(std::string target);
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  // Writes all n bytes, or throws "cannot write 'TARGET': <reason>".
  void write(const void* data, std::size_t n);
  // The name under which a library can open exactly this temp file (through /proc/self/fd; the temp's own
  // path where /proc is not mounted).
  std::string path_for_library() const;
  // The temp file's size now (to check what a library wrote).
  std::size_t size() const;
  // fsync, permissions, then into place (see above). Without replace, an existing target is an Error
  // "'TARGET' exists (use --force to overwrite)".
  void commit(bool replace);

  const std::string& target() const { return target_; }
  const std::string& temp_path() const { return temp_; }

 private:
  std::string target_, name_, folder_, temp_;  // temp_ = folder_/name_
  int fd_ = -1, folder_fd_ = -1;
  bool committed_ = false;
};

// The whole of `bytes` to `path` through an AtomicFile.
void write_file_atomic(const std::string& path, const void* data, std::size_t n, bool replace);
inline void write_file_atomic(const std::string& path, const std::string& bytes, bool replace) {
  write_file_atomic(path, bytes.data(), bytes.size(), replace);
}

// Removes from `folder` the temp folders of impasto's own naming whose process is gone (a run killed in its
// write window): only folders owned by this user, and in them only regular files. Returns how many.
int remove_stale_temps(const std::string& folder);

}  // namespace impasto
