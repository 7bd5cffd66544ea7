// A C++17 program built against the installed libentitle through
// find_package(Entitle) and Entitle::entitle, for
// tests/integration/test_client_packaging.py:
//   consumer_cpp CONFIG FEATURE GPU VGPU
// checks out, verifies, renews and releases a lease; prints its id.
#include <entitle/entitle.hpp>
#include <iostream>

int main(int argc, char** argv) {
    namespace ec = entitle::client;
    if (argc != 5) {
        std::cerr << "usage: consumer_cpp CONFIG FEATURE GPU VGPU\n";
        return 2;
    }
    try {
        ec::Client client(argv[1]);
        const ec::Lease lease = client.checkout(argv[2], argv[3], argv[4]);
        if (!lease.token_verified || client.verify(lease.lease_id) <= 0) {
            std::cerr << "checkout answered an unusable lease\n";
            return 1;
        }
        const ec::Lease renewed = client.renew(lease.lease_id);
        if (renewed.lease_id != lease.lease_id || client.held_leases().size() != 1) {
            std::cerr << "renewal changed the lease\n";
            return 1;
        }
        client.release(lease.lease_id);
        try {
            (void)client.verify(lease.lease_id);
            std::cerr << "still held after release\n";
            return 1;
        } catch (const ec::Error& e) {
            if (e.status() != ec::Status::not_found) throw;
        }
        std::cout << lease.lease_id << '\n';
        return 0;
    } catch (const ec::Error& e) {
        std::cerr << e.code() << ": " << e.what() << '\n';
        return 1;
    }
}
