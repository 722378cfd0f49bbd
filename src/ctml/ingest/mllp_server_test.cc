// End-to-end tests of the MLLP listener: a real TCP client, a SQLite EventLog and MetaStore.
#include "ctml/ingest/mllp_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/metrics.h"
#include "ctml/ingest/hl7/hl7.h"
#include "ctml/ingest/hl7/mllp.h"
#include "ctml/ingest/hl7/oru.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/ingest/ingest_testing.h"
#include "ctml/net/http.h"
#include "ctml/privacy/deidentifier.h"
#include "ctml/store/factory.h"
#include "ctml/store/meta_store.h"

namespace ctml::ingest {
namespace {

namespace fs = std::filesystem;
using hl7::Message;
using hl7::MllpDecoder;

privacy::Deidentifier TestDeid() {
  return privacy::Deidentifier(privacy::Pseudonymizer(std::string(64, 'k')), "shift",
                               privacy::Policy::kSafeHarbor);
}

fs::path FixtureDir() { return fs::path(CTML_SOURCE_DIR) / ".." / "shared" / "data" / "hl7"; }

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Oru(const std::string& control_id, const std::string& value) {
  return "MSH|^~\\&|LABAPP|LABFAC|CTML|CTMLFAC|20240301090000||ORU^R01^ORU_R01|" + control_id +
         "|P|2.5.1\rPID|1||PAT77^^^HOSP^MR||Roe^Richard||19510203|M\r"
         "OBR|1||ORD1|GLU^Glucose^L|||20240301083000\r"
         "OBX|1|NM|2345-7^Glucose^LN||" +
         value + "|mg/dL|70-99|H|||F\rOBX|2|CE|ORG^Organism^L||X^Y^L\r";
}

// A blocking TCP client with a receive timeout (so a broken server fails the test, not hangs).
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Sends in `pieces` separate writes with a short pause between them (partial reads on the
  // server side; correctness does not depend on the pause).
  bool SendInPieces(const std::string& bytes, size_t pieces) {
    size_t step = bytes.size() / pieces + 1;
    for (size_t i = 0; i < bytes.size(); i += step) {
      if (!Send(std::string_view(bytes).substr(i, step))) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  // The next framed message, or nullopt when the connection closed / timed out first.
  std::optional<std::string> ReadFrame() {
    for (;;) {
      size_t start = buffer_.find('\x0b');
      size_t end = start == std::string::npos ? start : buffer_.find('\x1c', start);
      if (end != std::string::npos) {
        std::string msg = buffer_.substr(start + 1, end - start - 1);
        buffer_.erase(0, end + 1);
        if (!buffer_.empty() && buffer_[0] == '\r') buffer_.erase(0, 1);
        return msg;
      }
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return std::nullopt;
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  // True when the server closed the connection (recv returns 0 / reset) before `timeout`.
  bool ClosedByPeer() {
    char buf[256];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

struct Ack {
  std::string code;
  std::string control_id;
  std::string err_code;
};

Ack ParseAck(const std::string& text) {
  auto msg = Message::Parse(text);
  EXPECT_TRUE(msg.ok()) << text;
  if (!msg.ok()) return {};
  EXPECT_EQ(msg->msh().Get(9, 1), "ACK");
  EXPECT_EQ(msg->msh().Get(9, 3), "ACK");
  Ack a;
  if (const auto* msa = msg->First("MSA")) {
    a.code = msa->Get(1);
    a.control_id = msa->Get(2);
  }
  if (const auto* err = msg->First("ERR")) a.err_code = err->Get(3, 1);
  return a;
}

class MllpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ctml-mllp-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto log = store::OpenEventLog("sqlite://" + (dir_ / "log.db").string());
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
    auto meta = store::OpenMetaStore("sqlite://" + (dir_ / "meta.db").string());
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(*meta);
    core_ = std::make_unique<IngestCore>(*log_, meta_.get());
  }
  void TearDown() override {
    server_.reset();
    core_.reset();
    meta_.reset();
    log_.reset();
    fs::remove_all(dir_);
  }
  MllpServer& StartServer(MllpServerOptions opts) {
    opts.host = "127.0.0.1";
    opts.port = 0;
    opts.http_port = 0;
    opts.handle_signals = false;
    server_ = std::make_unique<MllpServer>(opts, *core_, deid_);
    Status st = server_->Start();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *server_;
  }
  std::vector<std::string> LabEvents() {
    std::vector<std::string> out;
    auto consumer = log_->Subscribe("mllp-test", {TopicFor("lab_result")});
    EXPECT_TRUE(consumer.ok());
    if (!consumer.ok()) return out;
    for (;;) {
      auto batch = (*consumer)->Poll(1000, std::chrono::milliseconds(200));
      EXPECT_TRUE(batch.ok());
      if (!batch.ok() || batch->empty()) break;
      for (auto& r : *batch) out.push_back(r.value);
    }
    return out;
  }

  fs::path dir_;
  std::unique_ptr<store::EventLog> log_;
  std::unique_ptr<store::MetaStore> meta_;
  std::unique_ptr<IngestCore> core_;
  privacy::Deidentifier deid_ = TestDeid();
  std::unique_ptr<MllpServer> server_;
};

TEST_F(MllpServerTest, OneConnectionPartialWritesOversizeAndGarbage) {
  MllpServerOptions opts;
  opts.max_frame_bytes = 4096;
  MllpServer& server = StartServer(opts);
  ASSERT_NE(server.port(), 0);

  bool have_fixture = fs::exists(FixtureDir());
  std::string first = have_fixture ? ReadFile(FixtureDir() / "ORU_R01_2.5.1_SampleTestCase1.hl7")
                                   : Oru("FIRST-1", "101");
  std::string first_id = have_fixture ? "NIST-100929110701660" : "FIRST-1";

  Client c(server.port());
  ASSERT_TRUE(c.connected());
  // Garbage before the first start byte is discarded (no answer), the connection stays open.
  ASSERT_TRUE(c.Send("this is not MLLP\r\n"));
  // Two messages on one connection, each in several partial writes; the second is sent before
  // the first ACK is read.
  ASSERT_TRUE(c.SendInPieces(MllpDecoder::Frame(first), 4));
  ASSERT_TRUE(c.SendInPieces(MllpDecoder::Frame(Oru("SECOND-2", "142")), 3));
  // An oversize frame whose MSH-10 is readable gets an AR.
  std::string big = Oru("BIG-3", "1") + "NTE|1||" + std::string(8000, 'n') + "\r";
  ASSERT_TRUE(c.SendInPieces(MllpDecoder::Frame(big), 5));
  // A message of another type gets an AR 200, a bad NM value an AE 102.
  std::string adt = "MSH|^~\\&|A|F|||20240101||ADT^A01|ADT-4|P|2.5.1\rPID|1||X1\r";
  ASSERT_TRUE(c.Send(MllpDecoder::Frame(adt)));
  ASSERT_TRUE(c.Send(MllpDecoder::Frame(Oru("BAD-5", "12abc"))));

  std::vector<Ack> acks;
  for (int i = 0; i < 5; ++i) {
    auto frame = c.ReadFrame();
    ASSERT_TRUE(frame.has_value()) << "ACK " << i << " missing";
    acks.push_back(ParseAck(*frame));
  }
  EXPECT_EQ(acks[0].code, "AA");
  EXPECT_EQ(acks[0].control_id, first_id);
  EXPECT_EQ(acks[1].code, "AA");
  EXPECT_EQ(acks[1].control_id, "SECOND-2");
  EXPECT_EQ(acks[2].code, "AR");
  EXPECT_EQ(acks[2].control_id, "BIG-3");
  EXPECT_EQ(acks[2].err_code, "207");
  EXPECT_EQ(acks[3].code, "AR");
  EXPECT_EQ(acks[3].control_id, "ADT-4");
  EXPECT_EQ(acks[3].err_code, "200");
  EXPECT_EQ(acks[4].code, "AE");
  EXPECT_EQ(acks[4].control_id, "BAD-5");
  EXPECT_EQ(acks[4].err_code, "102");

  // The connection is still usable after all of that.
  ASSERT_TRUE(c.Send(MllpDecoder::Frame(Oru("LAST-6", "90"))));
  auto last = c.ReadFrame();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(ParseAck(*last).code, "AA");
  EXPECT_EQ(ParseAck(*last).control_id, "LAST-6");

  // Events landed: one per NM OBX of the accepted messages (CE skipped), none of the rejected.
  std::vector<std::string> events = LabEvents();
  ASSERT_EQ(events.size(), 3u);
  std::set<std::string> ids;
  for (const auto& v : events) {
    auto ev = CanonicalEvent::FromJson(v);
    ASSERT_TRUE(ev.ok()) << ev.status().ToString();
    EXPECT_EQ(ev->source, "hl7");
    EXPECT_EQ(ev->event_type, "lab_result");
    ids.insert(ev->event_id);
    // No name, birth date, address, phone or raw identifier from any PID.
    for (const char* phi : {"Johnson", "Philip", "20070526", "2007-05-26", "9817566735",
                            "Elm Street", "Roe", "Richard", "19510203", "1951-02-03", "PAT77"}) {
      EXPECT_EQ(v.find(phi), std::string::npos) << phi;
    }
  }
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_TRUE(ids.count(hl7::Hl7EventId("LABFAC", "SECOND-2", 1)));

  // Audit: one ingest.batch per accepted message, one ingest.reject per rejected one, chained.
  auto audit = meta_->ListAudit(1, 100);
  ASSERT_TRUE(audit.ok());
  int batches = 0, rejects = 0;
  for (const auto& r : *audit) {
    EXPECT_EQ(r.actor, "mllp:127.0.0.1");
    batches += r.action == "ingest.batch";
    rejects += r.action == "ingest.reject";
    for (const char* phi : {"Johnson", "Roe", "19510203", "PAT77", "9817566735"}) {
      EXPECT_EQ(r.detail.find(phi), std::string::npos);
      EXPECT_EQ(r.object.find(phi), std::string::npos);
    }
  }
  EXPECT_EQ(batches, 3);
  EXPECT_EQ(rejects, 3);
  EXPECT_TRUE(store::VerifyAuditChain(*audit).ok());

  // /stats, /health and /metrics on the side HTTP port.
  ASSERT_NE(server.http_port(), 0);
  net::HttpClient http("127.0.0.1", server.http_port());
  auto stats = http.Get("/stats");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->status, 200);
  Json s = Json::parse(stats->body);
  EXPECT_EQ(s["messages_accepted"], 3);
  EXPECT_EQ(s["messages_rejected"], 3);
  EXPECT_EQ(s["obx_landed"], 3);
  EXPECT_EQ(s["obx_skipped"], have_fixture ? 2 : 3);  // the CE OBX of each synthetic ORU
  EXPECT_EQ(s["frames_oversize"], 1);
  EXPECT_EQ(s["garbage_bytes"], 16);  // "this is not MLLP" (the CRLF between frames is tolerated)
  EXPECT_EQ(s["connections_accepted"], 1);
  auto health = http.Get("/health");
  ASSERT_TRUE(health.ok());
  EXPECT_EQ(health->status, 200);
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_NE(metrics->body.find("ctml_mllp_messages_total"), std::string::npos);
  EXPECT_NE(metrics->body.find("ctml_mllp_frames_rejected_total"), std::string::npos);

  server.Stop();
  server.Wait();
}

TEST_F(MllpServerTest, OversizeWithoutHeaderAndEndlessGarbageCloseTheConnection) {
  MllpServerOptions opts;
  opts.max_frame_bytes = 2048;
  MllpServer& server = StartServer(opts);
  {
    Client c(server.port());
    ASSERT_TRUE(c.connected());
    c.Send(MllpDecoder::Frame(std::string(5000, 'x')));
    EXPECT_TRUE(c.ClosedByPeer());
  }
  {
    Client c(server.port());
    ASSERT_TRUE(c.connected());
    c.Send(std::string(5000, 'g'));
    EXPECT_TRUE(c.ClosedByPeer());
  }
  // The listener survives: a new connection is served.
  Client c(server.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(MllpDecoder::Frame(Oru("AFTER-1", "5"))));
  auto ack = c.ReadFrame();
  ASSERT_TRUE(ack.has_value());
  EXPECT_EQ(ParseAck(*ack).code, "AA");
  MllpStats st = server.stats();
  EXPECT_EQ(st.frames_oversize, 1);
  EXPECT_EQ(st.connections_closed_garbage, 1);
  EXPECT_EQ(st.messages_accepted, 1);
}

TEST_F(MllpServerTest, PeerNotOnAllowListIsClosed) {
  MllpServerOptions opts;
  opts.allow = {"10.0.0.0/8"};
  MllpServer& server = StartServer(opts);
  Client c(server.port());
  ASSERT_TRUE(c.connected());
  c.Send(MllpDecoder::Frame(Oru("DENIED-1", "5")));
  EXPECT_TRUE(c.ClosedByPeer());
  EXPECT_EQ(server.stats().connections_denied, 1);
  EXPECT_EQ(server.stats().messages_accepted, 0);
  EXPECT_TRUE(LabEvents().empty());
}

// With the EventLog down the sender must get AE 207 (retry) and nothing lands.
TEST_F(MllpServerTest, SubmitFailureAnswersAe207) {
  UnavailableEventLog failing;
  IngestCore core(failing, nullptr);
  MllpServerOptions opts;
  opts.port = 0;
  opts.http_enabled = false;
  opts.handle_signals = false;
  MllpServer server(opts, core, deid_);
  ASSERT_TRUE(server.Start().ok());
  Client c(server.port());
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(MllpDecoder::Frame(Oru("RETRY-1", "5"))));
  auto ack = c.ReadFrame();
  ASSERT_TRUE(ack.has_value());
  Ack a = ParseAck(*ack);
  EXPECT_EQ(a.code, "AE");
  EXPECT_EQ(a.control_id, "RETRY-1");
  EXPECT_EQ(a.err_code, "207");
  EXPECT_EQ(server.stats().messages_failed, 1);
  EXPECT_EQ(server.http_port(), 0);
}

TEST_F(MllpServerTest, StopDrainsAndRefusesNewConnections) {
  MllpServer& server = StartServer(MllpServerOptions{});
  uint16_t port = server.port();
  Client idle(port);
  ASSERT_TRUE(idle.connected());
  // Wait (bounded) until the server has accepted it, so that Stop() meets an idle connection.
  for (int i = 0; i < 500 && server.stats().connections_open == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(server.stats().connections_open, 1);
  server.Stop();
  server.Wait();  // returns although a client is still connected (idle connections cancelled)
  EXPECT_TRUE(idle.ClosedByPeer());
  Client late(port);
  EXPECT_FALSE(late.connected());
}

TEST(IpAllowList, ParsesAndMatches) {
  auto list = IpAllowList::Parse({"127.0.0.1/32", " 10.1.0.0/16 ", "192.168.5.7", ""});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 3u);
  EXPECT_TRUE(list->Allows("127.0.0.1"));
  EXPECT_FALSE(list->Allows("127.0.0.2"));
  EXPECT_TRUE(list->Allows("10.1.255.3"));
  EXPECT_FALSE(list->Allows("10.2.0.1"));
  EXPECT_TRUE(list->Allows("192.168.5.7"));
  EXPECT_TRUE(list->Allows("::ffff:10.1.2.3"));
  EXPECT_FALSE(list->Allows("::1"));
  EXPECT_FALSE(list->Allows("not an ip"));
  EXPECT_FALSE(list->Allows(""));
  auto all = IpAllowList::Parse({"0.0.0.0/0"});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->Allows("8.8.8.8"));
  for (const char* bad :
       {"10.0.0.0/33", "10.0.0/8", "host.example", "10.0.0.0/", "1.2.3.4/x", "::1/128"}) {
    EXPECT_FALSE(IpAllowList::Parse({bad}).ok()) << bad;
  }
}

TEST(MllpServerOptions, FromConfig) {
  auto cfg = Config::FromYaml(
      "mllp:\n  port: 12575\n  http_port: 18086\n  allow: [127.0.0.1/32, 10.0.0.0/8]\n"
      "  max_frame_bytes: 65536\n  study_id: STUDY9\n  idle_timeout_seconds: 60\n",
      "/tmp", false);
  ASSERT_TRUE(cfg.ok());
  auto o = MllpServerOptions::FromConfig(*cfg);
  ASSERT_TRUE(o.ok()) << o.status().ToString();
  EXPECT_EQ(o->port, 12575);
  EXPECT_EQ(o->http_port, 18086);
  EXPECT_EQ(o->allow, (std::vector<std::string>{"127.0.0.1/32", "10.0.0.0/8"}));
  EXPECT_EQ(o->max_frame_bytes, 65536u);
  EXPECT_EQ(o->study_id, "STUDY9");
  EXPECT_EQ(o->idle_timeout, std::chrono::seconds(60));
  auto defaults = MllpServerOptions::FromConfig(*Config::FromYaml("x: 1\n", "/tmp", false));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->port, 2575);
  EXPECT_EQ(defaults->allow, (std::vector<std::string>{"127.0.0.1/32"}));
  EXPECT_EQ(defaults->study_id, "UNKNOWN");
  for (const char* bad :
       {"mllp:\n  allow: [nonsense]\n", "mllp:\n  port: 70000\n", "mllp:\n  max_frame_bytes: 10\n",
        "mllp:\n  allow: []\n", "mllp:\n  idle_timeout_seconds: 0\n"}) {
    auto c = Config::FromYaml(bad, "/tmp", false);
    ASSERT_TRUE(c.ok()) << bad;
    auto r = MllpServerOptions::FromConfig(*c);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.status().field().rfind("mllp.", 0), 0u) << bad;
    }
  }
}

}  // namespace
}  // namespace ctml::ingest
