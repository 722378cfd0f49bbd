#include "ctml/manager/probes.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "ctml/net/http.h"
#include "ctml/store/factory.h"

namespace ctml::manager {

std::string HealthPortKey(const ServiceRow& row, const Config& cfg) {
  // A service whose own protocol is not HTTP (mllp) serves /health on `<key>.http_port`.
  std::string http_port = row.config_key + ".http_port";
  return cfg.Has(http_port) ? http_port : row.PortKey();
}

Endpoint ServiceEndpoint(const ServiceRow& row, const Config& cfg) {
  Endpoint ep;
  ep.host = cfg.GetString(row.HostKey(), "127.0.0.1");
  if (ep.host.empty() || ep.host == "0.0.0.0") ep.host = "127.0.0.1";
  ep.port = static_cast<uint16_t>(cfg.GetInt(HealthPortKey(row, cfg), 0));
  ep.tls = !cfg.GetString(row.config_key + ".tls_cert_file").empty();
  return ep;
}

std::string BaseUrl(const Endpoint& ep) {
  return "http://" + ep.host + ":" + std::to_string(ep.port);
}

namespace {

// A non-blocking connect bounded by `timeout` (IPv4 literal hosts, as the config uses).
bool TcpConnects(const Endpoint& ep, std::chrono::milliseconds timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(ep.port);
  if (inet_pton(AF_INET, ep.host.c_str(), &addr.sin_addr) != 1) return false;
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (!ok && errno == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    int err = 0;
    socklen_t len = sizeof(err);
    ok = ::poll(&p, 1, static_cast<int>(timeout.count())) == 1 &&
         ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
  }
  ::close(fd);
  return ok;
}

}  // namespace

int HttpGetStatus(const Endpoint& ep, const std::string& target,
                  std::chrono::milliseconds timeout) {
  if (ep.port == 0) return 0;
  if (ep.tls) return TcpConnects(ep, timeout) ? 200 : 0;
  net::HttpClient client(ep.host, ep.port, timeout);
  auto resp = client.Get(target);
  return resp.ok() ? resp->status : 0;
}

Result<int> HttpPostStatus(const Endpoint& ep, const std::string& target, const std::string& body,
                           std::chrono::milliseconds timeout) {
  if (ep.port == 0) return Status::Invalid("no port configured", "port");
  net::HttpClient client(ep.host, ep.port, timeout);
  CTML_ASSIGN_OR_RETURN(auto resp, client.Post(target, body));
  return resp.status;
}

Status ProbeStore(const ServiceRow& row, const Config& cfg) {
  CTML_ASSIGN_OR_RETURN(std::string uri, cfg.Require(row.config_key));
  if (row.config_key == "log.uri") {
    CTML_ASSIGN_OR_RETURN(auto s, store::OpenEventLog(uri));
    return s->Ping();
  }
  if (row.config_key == "lake.uri") {
    CTML_ASSIGN_OR_RETURN(auto s, store::OpenLake(uri));
    return s->Ping();
  }
  if (row.config_key == "online.uri") {
    CTML_ASSIGN_OR_RETURN(auto s, store::OpenOnlineStore(uri));
    return s->Ping();
  }
  if (row.config_key == "meta.uri") {
    CTML_ASSIGN_OR_RETURN(auto s, store::OpenMetaStore(uri));
    return s->Ping();
  }
  if (row.config_key == "cache.uri") {
    CTML_ASSIGN_OR_RETURN(auto s, store::OpenCache(uri));
    return s->Ping();
  }
  return Status::Invalid("unknown store key '" + row.config_key + "'", row.config_key);
}

std::string RedactUri(const std::string& uri) {
  size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  size_t host_start = scheme + 3;
  size_t host_end = uri.find_first_of("/?", host_start);
  size_t at = uri.rfind('@', host_end == std::string::npos ? uri.size() : host_end);
  if (at == std::string::npos || at < host_start) return uri;
  return uri.substr(0, host_start) + "***@" + uri.substr(at + 1);
}

}  // namespace ctml::manager
