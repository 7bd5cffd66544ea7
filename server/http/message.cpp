#include "http/message.hpp"

#include <fmt/format.h>

namespace entitle::http {

Response json_response(bhttp::status status, const nlohmann::json& body) {
    Response res{status, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    res.prepare_payload();
    return res;
}

Response json_text_response(bhttp::status status, std::string body) {
    Response res{status, 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

Response error_response(const Error& error) {
    nlohmann::json body = {
        {"error", {{"code", error.code_name()}, {"message", error.message}}}};
    auto res = json_response(static_cast<bhttp::status>(error.http_status()), body);
    if (error.code == ErrorCode::unauthorized) res.set(bhttp::field::www_authenticate, "Bearer");
    // A store that cannot write usually recovers within seconds (space freed,
    // disk back); a hint keeps retrying clients from spinning.
    if (error.code == ErrorCode::unavailable) res.set(bhttp::field::retry_after, "1");
    return res;
}

Response empty_response(bhttp::status status) {
    Response res{status, 11};
    res.prepare_payload();
    return res;
}

Response text_response(bhttp::status status, std::string body, std::string_view content_type) {
    Response res{status, 11};
    res.set(bhttp::field::content_type, content_type);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

void wire_bytes(const Response& res, std::string& out, std::string_view extra_fields) {
    const unsigned version = res.version();
    const unsigned code = res.result_int();
    const std::string_view reason = res.reason();  // the standard phrase unless set
    out.clear();
    out += "HTTP/";
    out += static_cast<char>('0' + version / 10);
    out += '.';
    out += static_cast<char>('0' + version % 10);
    out += ' ';
    out += static_cast<char>('0' + code / 100 % 10);
    out += static_cast<char>('0' + code / 10 % 10);
    out += static_cast<char>('0' + code % 10);
    out += ' ';
    out += reason;
    out += "\r\n";
    for (const auto& field : res) {
        out += field.name_string();
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
    out += extra_fields;
    out += "\r\n";
    out += res.body();
}

Response buffered(Answer answer) {
    if (auto* res = std::get_if<Response>(&answer)) return std::move(*res);
    auto& file = std::get<FileResponse>(answer);
    Response res{file.result(), file.version()};
    for (const auto& field : file) res.insert(field.name_string(), field.value());
    auto& source = file.body().file();
    std::string bytes(static_cast<std::size_t>(file.body().size()), '\0');
    boost::beast::error_code ec;
    source.seek(0, ec);
    std::size_t done = 0;
    while (!ec && done < bytes.size()) {
        const std::size_t n = source.read(bytes.data() + done, bytes.size() - done, ec);
        if (n == 0) break;
        done += n;
    }
    if (ec || done != bytes.size()) {
        return error_response({ErrorCode::internal, "the answer's file cannot be read"});
    }
    res.body() = std::move(bytes);
    res.prepare_payload();
    return res;
}

Result<nlohmann::json> parse_json_body(const Request& request) {
    try {
        return nlohmann::json::parse(request.body());
    } catch (const nlohmann::json::parse_error& e) {
        return fail(ErrorCode::invalid_request,
                    fmt::format("request body is not valid JSON (at byte {})", e.byte));
    } catch (const nlohmann::json::exception&) {
        // The parser throws out_of_range for a number too large for a double
        // (1e400); uncaught, it would end the server from inside a handler.
        return fail(ErrorCode::invalid_request, "request body is not valid JSON (a number is out of range)");
    }
}

}  // namespace entitle::http
