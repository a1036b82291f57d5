// engine/files.cpp — see files.hpp.
#include "engine/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/error.hpp"
#include "engine/text.hpp"

namespace fs = std::filesystem;

namespace impasto {
namespace {

constexpr const char* kTempTag = ".impasto-tmp-";

// The process's umask, read without changing it (umask(2) would, for a moment, for every thread).
mode_t current_umask() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("Umask:", 0) == 0) return mode_t(std::strtoul(line.c_str() + 6, nullptr, 8));
  return 022;
}

void fsync_folder(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // durability only: the file is in place either way
  ::fsync(fd);
  ::close(fd);
}

// Removes the regular files in the folder open as `fd` (a temp folder: it holds at most one) and the folder.
void remove_temp_folder(int parent_fd, const char* name) {
  const int fd = ::openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return;
  if (DIR* d = ::fdopendir(fd)) {
    while (const dirent* e = ::readdir(d)) {
      struct stat s {};
      if (::fstatat(fd, e->d_name, &s, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(s.st_mode)) ::unlinkat(fd, e->d_name, 0);
    }
    ::closedir(d);  // closes fd
  } else {
    ::close(fd);
  }
  ::unlinkat(parent_fd, name, AT_REMOVEDIR);
}

}  // namespace

std::uintmax_t check_input_file(const std::string& path, const char* what, std::uintmax_t max_bytes) {
  struct stat s {};
  if (::stat(path.c_str(), &s) != 0) {
    if (errno == ENOENT) throw NotFoundError(std::string(what) + " '" + path + "': no such file");
    IMPASTO_FAIL(what << " '" << path << "': " << std::strerror(errno));
  }
  IMPASTO_CHECK(!S_ISDIR(s.st_mode), what << " '" << path << "': is a directory, not a file");
  IMPASTO_CHECK(S_ISREG(s.st_mode), what << " '" << path << "': not a regular file (a FIFO, a device, a socket)");
  const auto size = std::uintmax_t(s.st_size);
  IMPASTO_CHECK(size <= max_bytes, what << " '" << path << "': " << size << " bytes, more than the limit of "
                                        << max_bytes);
  return size;
}

nlohmann::json read_json_file(const std::string& path, const char* what, std::uintmax_t max_bytes) {
  struct stat s {};
  IMPASTO_CHECK(::lstat(path.c_str(), &s) == 0 && S_ISREG(s.st_mode), what << " '" << path << "': not a regular file");
  IMPASTO_CHECK(std::uintmax_t(s.st_size) <= max_bytes, what << " '" << path << "': larger than " << max_bytes << " bytes");
  std::ifstream in(path, std::ios::binary);
  IMPASTO_CHECK(in.good(), what << " '" << path << "': cannot open");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  IMPASTO_CHECK(json_nesting_depth(text) <= 64, what << " '" << path << "': nested more than 64 levels deep");
  return nlohmann::json::parse(text, nullptr, false);
}

AtomicFile::AtomicFile(std::string target) : target_(std::move(target)) {
  IMPASTO_CHECK(!target_.empty(), "cannot write a file with an empty name");
  const fs::path t(target_);
  name_ = t.filename().string();
  IMPASTO_CHECK(!name_.empty() && name_ != "." && name_ != "..", "cannot write '" << target_ << "': not a file name");
  std::string pattern = target_ + kTempTag + std::to_string(::getpid()) + "-XXXXXX";
  IMPASTO_CHECK(::mkdtemp(pattern.data()) != nullptr, "cannot write '" << target_ << "': " << std::strerror(errno));
  folder_ = pattern;
  folder_fd_ = ::open(folder_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (folder_fd_ >= 0)
    fd_ = ::openat(folder_fd_, name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    const int e = errno;
    if (folder_fd_ >= 0) ::close(folder_fd_);
    ::rmdir(folder_.c_str());
    IMPASTO_FAIL("cannot write '" << target_ << "': " << std::strerror(e));
  }
  temp_ = (fs::path(folder_) / name_).string();
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (folder_fd_ < 0) return;
  if (!committed_) ::unlinkat(folder_fd_, name_.c_str(), 0);
  ::close(folder_fd_);
  ::rmdir(folder_.c_str());
}

void AtomicFile::write(const void* data, std::size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t wrote = ::write(fd_, p, n);
    if (wrote < 0 && errno == EINTR) continue;
    IMPASTO_CHECK(wrote > 0, "cannot write '" << target_ << "': " << std::strerror(wrote < 0 ? errno : ENOSPC));
    p += wrote;
    n -= std::size_t(wrote);
  }
}

std::string AtomicFile::path_for_library() const {
  const std::string proc = "/proc/self/fd/" + std::to_string(folder_fd_) + "/" + name_;
  struct stat via_proc {}, own {};
  if (::stat(proc.c_str(), &via_proc) == 0 && ::fstat(fd_, &own) == 0 && via_proc.st_ino == own.st_ino &&
      via_proc.st_dev == own.st_dev)
    return proc;
  return temp_;
}

std::size_t AtomicFile::size() const {
  struct stat s {};
  IMPASTO_CHECK(::fstat(fd_, &s) == 0, "cannot write '" << target_ << "': " << std::strerror(errno));
  return std::size_t(s.st_size);
}

void AtomicFile::commit(bool replace) {
  IMPASTO_CHECK(!committed_, "'" << target_ << "' was already written");
  // A full disk can surface only here (delayed allocation), so fsync's error counts as a write error.
  IMPASTO_CHECK(::fsync(fd_) == 0, "cannot write '" << target_ << "': " << std::strerror(errno));
  IMPASTO_CHECK(::fchmod(fd_, 0666 & ~current_umask()) == 0,
                "cannot write '" << target_ << "': " << std::strerror(errno));
  if (replace) {
    IMPASTO_CHECK(::renameat(folder_fd_, name_.c_str(), AT_FDCWD, target_.c_str()) == 0,
                  "cannot write '" << target_ << "': " << std::strerror(errno));
  } else if (::linkat(folder_fd_, name_.c_str(), AT_FDCWD, target_.c_str(), 0) == 0) {
    ::unlinkat(folder_fd_, name_.c_str(), 0);
  } else {
    const int e = errno;
    IMPASTO_CHECK(e != EEXIST, "'" << target_ << "' exists (use --force to overwrite)");
    // A file system without hard links (EPERM, ENOTSUP, …): rename without replacing where the kernel can.
    IMPASTO_CHECK(e == EPERM || e == ENOTSUP || e == EOPNOTSUPP || e == ENOSYS || e == EMLINK,
                  "cannot write '" << target_ << "': " << std::strerror(e));
    IMPASTO_CHECK(::renameat2(folder_fd_, name_.c_str(), AT_FDCWD, target_.c_str(), RENAME_NOREPLACE) == 0,
                  (errno == EEXIST ? "'" + target_ + "' exists (use --force to overwrite)"
                                   : "cannot write '" + target_ + "': " + std::strerror(errno)));
  }
  committed_ = true;
  const fs::path parent = fs::path(target_).parent_path();
  fsync_folder(parent.empty() ? "." : parent.string());
}

void write_file_atomic(const std::string& path, const void* data, std::size_t n, bool replace) {
  AtomicFile file(path);
  file.write(data, n);
  file.commit(replace);
}

int remove_stale_temps(const std::string& folder) {
  DIR* dir = ::opendir(folder.c_str());
  if (dir == nullptr) return 0;
  int removed = 0;
  const uid_t me = ::getuid();
  while (const dirent* e = ::readdir(dir)) {
    const std::string name = e->d_name;
    const std::size_t at = name.find(kTempTag);
    if (at == std::string::npos) continue;
    const char* pid_text = name.c_str() + at + std::strlen(kTempTag);
    char* end = nullptr;
    const long pid = std::strtol(pid_text, &end, 10);
    if (end == pid_text || *end != '-' || pid <= 0) continue;
    if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // its process may still be writing it
    struct stat s {};
    if (::fstatat(::dirfd(dir), e->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISDIR(s.st_mode) || s.st_uid != me) continue;
    remove_temp_folder(::dirfd(dir), e->d_name);
    ++removed;
  }
  ::closedir(dir);
  return removed;
}

}  // namespace impasto
