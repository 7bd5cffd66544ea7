#include "lease_book.hpp"
// The header under test is included first: it must compile on its own.

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "temp_dir.hpp"

using entitle::lib::HeldLease;
using entitle::lib::LeaseBook;
using entitle::lib::LeaseStateFile;
using entitle::lib::PendingCheckout;
using entitle::test::TempDir;

namespace {

LeaseBook sample_book() {
    LeaseBook book;
    book.host_id = "h_1";
    HeldLease l;
    l.lease_id = "l_1";
    l.token = "a.b.c";
    l.request_id = "rq_1";
    l.feature = "vWS";
    l.entitlement = "lic/seats";
    l.gpu_uuid = "GPU-0";
    l.vgpu_id = "v-1";
    l.profile = "A16-4Q";
    l.issued_at = 100;
    l.expires_at = 3700;
    l.renew_after = 1900;
    l.releasing = true;
    l.timing = {5000, 3000, "boot-1", -3};
    book.leases.push_back(l);
    book.pending.push_back(PendingCheckout{"rq_2", "vWS", "GPU-0", "v-2", std::nullopt});
    return book;
}

}  // namespace

TEST_CASE("a lease book survives a round trip through its JSON form") {
    const auto book = sample_book();
    auto back = LeaseBook::from_json(book.to_json());
    REQUIRE(back);
    CHECK(back->to_json() == book.to_json());
    CHECK(back->leases[0].profile == "A16-4Q");
    CHECK(back->leases[0].releasing);
    CHECK(back->leases[0].timing.skew_s == -3);
    CHECK_FALSE(back->pending[0].profile);
}

TEST_CASE("put_lease keeps one lease per vGPU and per id") {
    auto book = sample_book();
    HeldLease replacement = book.leases[0];
    replacement.lease_id = "l_2";
    book.put_lease(replacement);
    REQUIRE(book.leases.size() == 1);
    CHECK(book.leases[0].lease_id == "l_2");
    CHECK(book.find_lease_for_vgpu("v-1") != nullptr);
    CHECK(book.remove_lease("l_2"));
    CHECK_FALSE(book.remove_lease("l_2"));
    book.remove_pending("v-2");
    CHECK(book.pending.empty());
}

TEST_CASE("the state file is written atomically with mode 0600 and read back") {
    TempDir dir;
    auto file = LeaseStateFile::open(dir.file("state"));
    REQUIRE(file);
    struct stat st {};
    REQUIRE(::stat(dir.file("state").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);

    auto empty = file->read("h_1");
    REQUIRE(empty);
    CHECK(empty->leases.empty());

    auto lock = file->lock();
    REQUIRE(lock);
    REQUIRE(file->write(sample_book()));
    REQUIRE(::stat(file->path().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    CHECK(::stat((file->path() + ".tmp").c_str(), &st) != 0);  // renamed away
    auto back = file->read("h_1");
    REQUIRE(back);
    CHECK(back->to_json() == sample_book().to_json());
}

TEST_CASE("a state file of another host, or a malformed one, is refused") {
    TempDir dir;
    auto file = LeaseStateFile::open(dir.path().string());
    REQUIRE(file);
    REQUIRE(file->write(sample_book()));
    auto other = file->read("h_2");
    REQUIRE_FALSE(other);
    CHECK(other.error().status == ENTITLE_STATE_ERROR);
    CHECK(other.error().message.find("another state directory") != std::string::npos);

    std::ofstream(file->path()) << "{\"format\":1,";
    auto broken = file->read("h_1");
    REQUIRE_FALSE(broken);
    CHECK(broken.error().message.find("not valid JSON") != std::string::npos);

    std::ofstream(file->path())
        << R"({"format":1,"host_id":"h_1","leases":[{"lease_id":"x"}],"pending":[]})";
    auto partial = file->read("h_1");
    REQUIRE_FALSE(partial);
    CHECK(partial.error().message.find("is missing") != std::string::npos);

    std::ofstream(file->path()) << R"({"format":2,"host_id":"h_1","leases":[],"pending":[]})";
    CHECK_FALSE(file->read("h_1"));
}

TEST_CASE("a state directory that cannot be made is a state error") {
    TempDir dir;
    std::ofstream(dir.file("plain")) << "x";
    auto under_file = LeaseStateFile::open(dir.file("plain") + "/state");
    REQUIRE_FALSE(under_file);
    CHECK(under_file.error().status == ENTITLE_STATE_ERROR);
    CHECK_FALSE(LeaseStateFile::open(dir.file("plain")));
    CHECK(LeaseStateFile::open("").error().status == ENTITLE_INVALID_ARGUMENT);
}
