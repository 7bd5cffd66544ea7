// One HTTP exchange with the server. The interface exists so that tests can
// stand between the client and the network (drop an answer after the server
// committed, count attempts); the library uses HttpsTransport.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "status.hpp"

namespace entitle::lib {

struct HttpRequest {
    std::string method;  // "GET", "POST", "DELETE"
    std::string target;  // path and query, percent-encoded, without the URL's prefix
    std::string body;    // JSON, or empty
    std::string bearer;  // sent as "Authorization: Bearer ..." when not empty
};

struct HttpResponse {
    int status = 0;
    std::string body;
    std::optional<std::string> date;  // the Date header, when the server sent one
};

class Transport {
  public:
    virtual ~Transport() = default;
    // Any HTTP status is a success here. Failures: ENTITLE_UNAVAILABLE (could
    // not connect, timed out, connection lost before a whole answer),
    // ENTITLE_TLS_ERROR (the certificate does not verify or name the host),
    // ENTITLE_PROTOCOL_ERROR (the answer is not HTTP or too large).
    // Called from several threads at once.
    [[nodiscard]] virtual Outcome<HttpResponse> exchange(const HttpRequest& request,
                                                         std::chrono::milliseconds timeout) = 0;
};

}  // namespace entitle::lib
