/* A C program built as C (C11) against the installed libentitle through
 * pkg-config, for tests/integration/test_client_packaging.py:
 *   consumer_c CONFIG FEATURE GPU VGPU
 * checks out a lease, verifies it offline, renews and releases it. Prints
 * "<lease id>" on success; exit 1 with "<code>: <message>" on stderr. */
#include <entitle/entitle.h>
#include <stdio.h>
#include <string.h>

static int fail(entitle_client* client, const char* step, entitle_status status) {
    fprintf(stderr, "%s: %s: %s\n", step, entitle_status_str(status), entitle_last_error(client));
    entitle_client_close(client);
    return 1;
}

int main(int argc, char** argv) {
    entitle_client* client = NULL;
    entitle_lease* lease = NULL;
    entitle_lease* renewed = NULL;
    entitle_lease_list* held = NULL;
    entitle_status status;
    int64_t left = 0;
    char lease_id[300];

    if (argc != 5) {
        fprintf(stderr, "usage: consumer_c CONFIG FEATURE GPU VGPU\n");
        return 2;
    }
    if (ENTITLE_VERSION_NUM < 0x000100 || strcmp(entitle_version(), ENTITLE_VERSION_STRING) != 0) {
        fprintf(stderr, "header %s, library %s\n", ENTITLE_VERSION_STRING, entitle_version());
        return 1;
    }
    status = entitle_client_open(argv[1], &client);
    if (status != ENTITLE_OK) return fail(client, "open", status);

    status = entitle_checkout(client, argv[2], argv[3], argv[4], NULL, &lease);
    if (status != ENTITLE_OK) return fail(client, "checkout", status);
    snprintf(lease_id, sizeof lease_id, "%s", lease->lease_id);
    if (!lease->token_verified || lease->seconds_left <= 0 || strcmp(lease->vgpu_id, argv[4])) {
        fprintf(stderr, "checkout answered an unusable lease\n");
        return 1;
    }
    entitle_lease_free(lease);

    status = entitle_lease_verify(client, lease_id, &left);
    if (status != ENTITLE_OK) return fail(client, "verify", status);

    status = entitle_renew(client, lease_id, &renewed);
    if (status != ENTITLE_OK) return fail(client, "renew", status);
    entitle_lease_free(renewed);

    status = entitle_held_leases(client, &held);
    if (status != ENTITLE_OK) return fail(client, "held", status);
    if (held->count != 1 || strcmp(held->items[0]->lease_id, lease_id) != 0) {
        fprintf(stderr, "held leases: expected exactly %s\n", lease_id);
        return 1;
    }
    entitle_lease_list_free(held);

    status = entitle_release(client, lease_id);
    if (status != ENTITLE_OK) return fail(client, "release", status);
    status = entitle_lease_verify(client, lease_id, &left);
    if (status != ENTITLE_NOT_FOUND) return fail(client, "verify after release", status);

    entitle_client_close(client);
    printf("%s\n", lease_id);
    return 0;
}
