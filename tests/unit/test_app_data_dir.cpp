#include "app/data_dir.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "temp_dir.hpp"

using namespace entitle;
using namespace entitle::app;
using entitle::test::TempDir;
namespace fs = std::filesystem;

namespace {

unsigned mode_of(const fs::path& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_plain(const fs::path& p, const std::string& content, unsigned mode) {
    {
        std::ofstream out(p, std::ios::binary);
        out << content;
    }
    REQUIRE(::chmod(p.c_str(), mode) == 0);
}

}  // namespace

TEST_CASE("write_file_atomically creates a mode 0600 file with the content") {
    TempDir dir;
    const auto path = dir / "secret.key";
    REQUIRE(write_file_atomically(path, "s3cret\n", 0600).has_value());
    CHECK(mode_of(path) == 0600);
    CHECK(slurp(path) == "s3cret\n");
    CHECK_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST_CASE("write_file_atomically applies the mode whatever the umask") {
    TempDir dir;
    const mode_t old = ::umask(0);
    const auto r = write_file_atomically(dir / "a", "x", 0600);
    ::umask(077);
    const auto r2 = write_file_atomically(dir / "b", "x", 0644);
    ::umask(old);
    REQUIRE(r.has_value());
    REQUIRE(r2.has_value());
    CHECK(mode_of(dir / "a") == 0600);
    CHECK(mode_of(dir / "b") == 0644);
}

TEST_CASE("write_file_atomically replaces the content and mode of an existing file") {
    TempDir dir;
    const auto path = dir / "admin.token";
    write_plain(path, "old content that is longer", 0644);
    REQUIRE(write_file_atomically(path, "new", 0600).has_value());
    CHECK(slurp(path) == "new");
    CHECK(mode_of(path) == 0600);
    REQUIRE(write_file_atomically(path, std::string_view("\0binary\xff", 8), 0600).has_value());
    CHECK(slurp(path) == std::string("\0binary\xff", 8));
}

TEST_CASE("write_file_atomically ignores a leftover temporary file from an interrupted write") {
    TempDir dir;
    const auto path = dir / "tls.key";
    write_plain(path.string() + ".tmp", "half-written", 0644);
    REQUIRE(write_file_atomically(path, "complete", 0600).has_value());
    CHECK(slurp(path) == "complete");
    CHECK(mode_of(path) == 0600);
    CHECK_FALSE(fs::exists(path.string() + ".tmp"));
}

TEST_CASE(
    "write_file_atomically fails with an error naming the path when the directory is missing") {
    TempDir dir;
    const auto path = dir / "no-such-dir" / "file";
    const auto r = write_file_atomically(path, "x", 0600);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("no-such-dir") != std::string::npos);
}

TEST_CASE("read_secret_file reads a mode 0600 file") {
    TempDir dir;
    const auto path = dir / "ok.key";
    REQUIRE(write_file_atomically(path, "the secret", 0600).has_value());
    CHECK(read_secret_file(path).value().view() == "the secret");
    REQUIRE(::chmod(path.c_str(), 0400) == 0);
    CHECK(read_secret_file(path).value().view() == "the secret");
}

TEST_CASE("read_secret_file refuses a file open to group or others and says chmod 600") {
    TempDir dir;
    const auto path = dir / "open.key";
    for (const unsigned mode : {0644u, 0640u, 0604u, 0660u, 0602u}) {
        CAPTURE(mode);
        write_plain(path, "the secret", mode);
        const auto r = read_secret_file(path);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == ErrorCode::invalid_request);
        CHECK(r.error().message.find("chmod 600") != std::string::npos);
        CHECK(r.error().message.find(path.string()) != std::string::npos);
        CHECK(r.error().message.find("the secret") == std::string::npos);
    }
}

TEST_CASE("read_secret_file refuses a missing file") {
    TempDir dir;
    const auto r = read_secret_file(dir / "missing.key");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("missing.key") != std::string::npos);
}

TEST_CASE("read_secret_file refuses a directory") {
    TempDir dir;
    const auto sub = dir / "a-dir";
    fs::create_directory(sub);
    REQUIRE(::chmod(sub.c_str(), 0700) == 0);
    const auto r = read_secret_file(sub);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("not a regular file") != std::string::npos);
}

TEST_CASE("read_file reads any file and names a missing one") {
    TempDir dir;
    write_plain(dir / "public.crt", "cert", 0644);
    CHECK(read_file(dir / "public.crt") == std::string("cert"));
    const auto r = read_file(dir / "absent.crt");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("absent.crt") != std::string::npos);
}

TEST_CASE("check_data_dir refuses a missing directory and says to run entitled init") {
    TempDir dir;
    const auto r = check_data_dir(DataDir{dir / "nowhere"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("entitled init") != std::string::npos);
}

TEST_CASE("check_data_dir refuses a plain file given as the directory") {
    TempDir dir;
    write_plain(dir / "file", "x", 0600);
    const auto r = check_data_dir(DataDir{dir / "file"});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("entitled init") != std::string::npos);
}

TEST_CASE("check_data_dir refuses a directory without entitle.db and says to run entitled init") {
    TempDir dir;
    const auto r = check_data_dir(DataDir{dir.path()});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("entitled init") != std::string::npos);
    CHECK(r.error().message.find("entitle.db") != std::string::npos);
}

TEST_CASE("check_data_dir accepts a private directory with a store") {
    TempDir dir;
    const DataDir d{dir.path()};
    write_plain(d.store(), "", 0600);
    CHECK(check_data_dir(d).has_value());
}

TEST_CASE("check_data_dir refuses a directory writable by group or others") {
    TempDir dir;
    const DataDir d{dir.path()};
    write_plain(d.store(), "", 0600);
    REQUIRE(::chmod(dir.path().c_str(), 0777) == 0);
    const auto r = check_data_dir(d);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("chmod 700") != std::string::npos);
    REQUIRE(::chmod(dir.path().c_str(), 0700) == 0);
}

TEST_CASE("DataDir names the files inside its root") {
    const DataDir d{"/srv/entitle"};
    CHECK(d.store() == fs::path("/srv/entitle/entitle.db"));
    CHECK(d.lease_key() == fs::path("/srv/entitle/lease-signing.key"));
    CHECK(d.tls_key() == fs::path("/srv/entitle/tls.key"));
    CHECK(d.tls_cert() == fs::path("/srv/entitle/tls.crt"));
    CHECK(d.admin_token() == fs::path("/srv/entitle/admin.token"));
    CHECK(d.issuers() == fs::path("/srv/entitle/issuers"));
}

TEST_CASE("a secret string wipes its bytes when moved from and trims a trailing newline") {
    entitle::crypto::SecretString a(std::string("short-secret\n"));
    a.trim_trailing("\r\n");
    CHECK(a.view() == "short-secret");
    entitle::crypto::SecretString b(std::move(a));
    CHECK(b.view() == "short-secret");
    CHECK(a.empty());  // NOLINT(bugprone-use-after-move): the point of the test
    entitle::crypto::SecretString c;
    c = std::move(b);
    CHECK(c.view() == "short-secret");
    CHECK(b.empty());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("remove_leftover_copies removes the temporary copies of dead processes and nothing else") {
    TempDir dir;
    auto write = [&](std::string_view name, std::size_t bytes) {
        std::ofstream(dir / name, std::ios::binary) << std::string(bytes, 'x');
    };
    // What a killed server answering GET /v1/backup, or a killed restore, leaves.
    write(".backup-4242-0.db", 3000);
    write(".backup-4242-0.db-journal", 512);
    write(".backup-17-3.db", 10);
    write(".entitle.db.restore-99", 4096);
    write(".entitle.db.restore-99-wal", 100);
    // The store and everything else stays.
    write("entitle.db", 8192);
    write("entitle.db-wal", 64);
    write("entitle.db.20261126T101010Z.bak", 8192);
    write(".backup-notes.txt", 5);
    write("backup-1-2.db", 5);
    write(".host.json.tmp-abc123", 5);
    fs::create_directory(dir / ".backup-5-5.db");  // not a regular file: left alone

    const auto removed = remove_leftover_copies(DataDir{dir.path()});
    std::map<std::string, std::uintmax_t> got;
    for (const auto& r : removed) got[r.path.filename().string()] = r.bytes;
    CHECK(got == std::map<std::string, std::uintmax_t>{{".backup-17-3.db", 10},
                                                       {".backup-4242-0.db", 3000},
                                                       {".backup-4242-0.db-journal", 512},
                                                       {".entitle.db.restore-99", 4096},
                                                       {".entitle.db.restore-99-wal", 100}});
    for (const auto& [name, bytes] : got) CHECK_FALSE(fs::exists(dir / name));
    for (const char* kept : {"entitle.db", "entitle.db-wal", "entitle.db.20261126T101010Z.bak",
                             ".backup-notes.txt", "backup-1-2.db", ".host.json.tmp-abc123",
                             ".backup-5-5.db"}) {
        CHECK_MESSAGE(fs::exists(dir / kept), kept);
    }
    // Nothing left to remove the second time.
    CHECK(remove_leftover_copies(DataDir{dir.path()}).empty());
}
