// HTTP message types and the helpers every handler uses to answer: JSON
// bodies and the contract's error shape {"error":{"code","message"}}.
#pragma once

#include <variant>

#include <boost/beast/http.hpp>
#include <boost/beast/http/file_body.hpp>
#include <nlohmann/json.hpp>

#include "core/error.hpp"

namespace entitle::http {

namespace bhttp = boost::beast::http;
using Request = bhttp::request<bhttp::string_body>;
using Response = bhttp::response<bhttp::string_body>;
// An answer whose body is an open file, sent as it is read, never held in
// memory as a whole (GET /v1/backup).
using FileResponse = bhttp::response<bhttp::file_body>;
// What a handler answers with: almost always a Response.
using Answer = std::variant<Response, FileResponse>;

[[nodiscard]] Response json_response(bhttp::status status, const nlohmann::json& body);
// The same for a body already written as JSON text.
[[nodiscard]] Response json_text_response(bhttp::status status, std::string body);
[[nodiscard]] Response error_response(const Error& error);
[[nodiscard]] Response empty_response(bhttp::status status);  // e.g. 204
[[nodiscard]] Response text_response(bhttp::status status, std::string body,
                                     std::string_view content_type);

// The bytes of `res` on the wire (status line, fields, blank line, body),
// written into `out` (cleared first): what Beast's serializer sends for an
// answer that is not chunked, as one piece. `extra_fields` (whole header
// lines, each ending in CRLF) go after the answer's own fields, as if they
// had been inserted last.
void wire_bytes(const Response& res, std::string& out, std::string_view extra_fields = {});

// The answer with its body in memory: a FileResponse's file is read in
// (for callers that need the bytes, such as tests calling handlers directly).
[[nodiscard]] Response buffered(Answer answer);

// Parses the request body as one JSON value; a clear `invalid_request`
// naming the byte offset when it is not JSON.
[[nodiscard]] Result<nlohmann::json> parse_json_body(const Request& request);

}  // namespace entitle::http
