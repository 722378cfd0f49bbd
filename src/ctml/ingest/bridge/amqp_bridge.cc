#include "ctml/ingest/bridge/amqp_bridge.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <proton/binary.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/duration.hpp>
#include <proton/error.hpp>
#include <proton/error_condition.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/reconnect_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/source.hpp>
#include <proton/ssl.hpp>
#include <proton/target.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/work_queue.hpp>
#include <sstream>
#include <thread>

#include "ctml/core/json.h"
#include "ctml/core/log.h"
#include "ctml/core/time.h"
#include "ctml/ingest/clinical_envelope.h"
#include "ctml/ingest/ingest_core.h"
#include "ctml/ingest/topic_payloads.h"
#include "ctml/privacy/deidentifier.h"

namespace ctml::ingest {

const std::vector<std::string>& DefaultBridgeQueues() {
  static const std::vector<std::string> kQueues = {"CLINICAL.VITAL.SIGNS", "CLINICAL.LAB.RESULTS",
                                                   "CLINICAL.ADVERSE.EVENTS",
                                                   "CLINICAL.DEMOGRAPHICS", "CLINICAL.PRIORITY"};
  return kQueues;
}

std::vector<std::string> SplitQueueList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    auto b = item.find_first_not_of(" \t");
    auto e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

QueueMapping MappingForQueue(const std::string& queue) {
  if (queue == "CLINICAL.VITAL.SIGNS") return {"patient-vitals", ""};
  if (queue == "CLINICAL.LAB.RESULTS") return {"lab-results", ""};
  if (queue == "CLINICAL.ADVERSE.EVENTS") return {"adverse-events", ""};
  if (queue == "CLINICAL.DEMOGRAPHICS") return {"", "patient_demographics"};
  return {"", ""};  // CLINICAL.PRIORITY and any other queue: the REST envelope, any kind
}

std::string BridgeEventId(const std::string& message_id, const std::string& body,
                          const privacy::Deidentifier& deid) {
  // Keyed (the pseudonymization key): the id neither reveals nor lets anyone test the body.
  std::string material = message_id.empty() ? "body:" + body : "id:" + message_id;
  return "amqp-" + deid.SubjectKey("event-id:amqp/" + material);
}

BridgeParse ParseBridgeMessage(const std::string& queue, const std::string& body,
                               const std::string& message_id, const privacy::Deidentifier& deid,
                               int64_t received_at_us) {
  BridgeParse out;
  auto fail = [&](const char* reason, std::string field, std::string message) {
    out.ok = false;
    out.reason = reason;
    out.field = std::move(field);
    out.message = message.substr(0, 200);
    return out;
  };
  if (body.size() > kMaxBridgeBodyBytes) {
    return fail(kReasonTooLarge, "", "body larger than " + std::to_string(kMaxBridgeBodyBytes));
  }
  auto doc = ParseJson(body, 32);
  if (!doc.ok()) return fail(kReasonMalformedJson, "", "body is not JSON");
  if (!doc->is_object()) return fail(kReasonMalformedJson, "", "body is not a JSON object");
  QueueMapping m = MappingForQueue(queue);
  Result<CanonicalEvent> ev = Status::OK();
  if (!m.topic_payload.empty()) {
    ev = ParseTopicPayload(m.topic_payload, *doc, deid, received_at_us);
  } else {
    Json envelope = std::move(*doc);
    if (!m.envelope_kind.empty() && !envelope.contains(m.envelope_kind)) {
      static const char* kKinds[] = {"vital_signs", "patient_demographics", "lab_result",
                                     "adverse_event"};
      for (const char* k : kKinds) {
        if (envelope.contains(k)) {
          return fail(kReasonWrongKind, k,
                      std::string("queue ") + queue + " carries " + m.envelope_kind + ", not " + k);
        }
      }
      // A bare record (no envelope around it) is taken as the queue's kind.
      envelope = Json{{m.envelope_kind, std::move(envelope)}};
    }
    ev = ParseClinicalEnvelope(envelope, deid, received_at_us, "amqp");
  }
  if (!ev.ok()) return fail(kReasonInvalidField, ev.status().field(), ev.status().message());
  out.ok = true;
  out.event = std::move(*ev);
  out.event.source = "amqp";
  out.event.event_id = BridgeEventId(message_id, body, deid);
  return out;
}

std::string RedactAmqpUrl(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) return url;
  auto at = url.find('@', sep + 3);
  if (at == std::string::npos) return url;
  return url.substr(0, sep + 3) + "***" + url.substr(at);
}

namespace {

using Clock = std::chrono::steady_clock;

proton::connection_options ConnectionOptions(const BridgeOptions& o, bool reconnect) {
  proton::connection_options co;
  if (!o.user.empty()) {
    co.user(o.user);
    co.password(o.password);
    co.sasl_allowed_mechs("PLAIN");
  }
  if (o.url.rfind("amqps://", 0) == 0) {
    co.ssl_client_options(proton::ssl_client_options());  // system trust, verify peer name
  } else {
    // PLAIN over a cleartext connection: needed for amqp:// (loopback, or a private network).
    co.sasl_allow_insecure_mechs(true);
  }
  co.idle_timeout(proton::duration(30000));
  if (reconnect) {
    proton::reconnect_options ro;
    ro.delay(proton::duration(200)).delay_multiplier(2.0f).max_delay(proton::duration(10000));
    co.reconnect(ro);
  }
  return co;
}

std::string MessageIdText(const proton::message& m) {
  proton::message_id id = m.id();
  if (id.empty()) return "";
  if (id.type() == proton::STRING) return proton::get<std::string>(id);
  return proton::to_string(id);
}

// The body as bytes: an AMQP string or binary value (what MQ/JMS text and bytes messages become);
// false for other body types.
bool BodyText(const proton::message& m, std::string* out) {
  const proton::value& v = m.body();
  if (v.type() == proton::STRING) {
    *out = proton::get<std::string>(v);
    return true;
  }
  if (v.type() == proton::BINARY) {
    proton::binary b = proton::get<proton::binary>(v);
    out->assign(b.begin(), b.end());
    return true;
  }
  return false;
}

bool Unauthorized(const proton::error_condition& e) {
  return e.name().find("unauthorized") != std::string::npos ||
         e.name().find("sasl") != std::string::npos;
}

// ----------------------------------------------------------------------------------- bridge
class BridgeHandler : public proton::messaging_handler {
 public:
  BridgeHandler(const BridgeOptions& o, IngestCore& core, const privacy::Deidentifier& deid,
                const std::atomic<bool>* stop)
      : o_(o), core_(core), deid_(deid), stop_(stop), last_stats_(Clock::now()) {}

  void on_container_start(proton::container& c) override {
    conn_ = c.connect(o_.url, ConnectionOptions(o_, o_.reconnect));
    Tick(c);
  }

  void on_connection_open(proton::connection& c) override {
    if (c.reconnected()) {
      log::Info("bridge", "reconnected", {{"url", RedactAmqpUrl(o_.url)}});
      return;  // proton re-opens the links
    }
    for (const std::string& q : o_.queues) {
      c.open_receiver(q, proton::receiver_options().auto_accept(false).credit_window(o_.credit));
    }
    dlq_ = c.open_sender(o_.dead_letter_queue);
    log::Info("bridge", "connected",
              {{"url", RedactAmqpUrl(o_.url)}, {"queues", std::to_string(o_.queues.size())}});
  }

  void on_message(proton::delivery& d, proton::message& m) override {
    counters_.received++;
    std::string queue = d.receiver().source().address();
    std::string body;
    BridgeParse p;
    std::string id = MessageIdText(m);
    if (!BodyText(m, &body)) {
      p.reason = kReasonUnsupportedBody;
      p.message = "body is neither an AMQP string nor binary";
    } else {
      p = ParseBridgeMessage(queue, body, id, deid_, NowMicros());
    }
    if (p.ok) {
      pending_.push_back({d, std::move(p.event)});
      if (static_cast<int>(pending_.size()) >= std::max(1, o_.credit)) {
        Flush();
      } else {
        ScheduleFlush(d.container());
      }
      return;
    }
    DeadLetter(d, m, queue, p);
  }

  void on_tracker_accept(proton::tracker& t) override {
    auto it = dlq_pending_.find(TagKey(t.tag()));
    if (it == dlq_pending_.end()) return;
    it->second.source.accept();
    counters_.dead_lettered++;
    rejects_[it->second.queue][it->second.reason]++;
    dlq_pending_.erase(it);
    ScheduleFlush(t.container());
  }
  void on_tracker_reject(proton::tracker& t) override { DlqFailed(t, "rejected"); }
  void on_tracker_release(proton::tracker& t) override { DlqFailed(t, "released"); }

  void on_transport_error(proton::transport& t) override {
    proton::error_condition e = t.error();
    // Unsettled deliveries of the lost connection are the broker's again: it redelivers them.
    pending_.clear();
    dlq_pending_.clear();
    if (Unauthorized(e)) {
      Fatal(Status::Invalid("the broker refused the credentials: " + e.what(), "bridge.url"));
      return;
    }
    log::Warn("bridge", "connection lost; reconnecting with backoff", {{"error", e.what()}});
  }
  void on_connection_error(proton::connection& c) override {
    Fatal(Status::Unavailable("connection error: " + c.error().what()));
  }
  void on_receiver_error(proton::receiver& r) override {
    Fatal(Status::Invalid("cannot consume queue " + r.source().address() + ": " + r.error().what(),
                          "bridge.queues"));
  }
  void on_sender_error(proton::sender& s) override {
    Fatal(Status::Invalid(
        "cannot send to the dead-letter queue " + o_.dead_letter_queue + ": " + s.error().what(),
        "bridge.dead_letter_queue"));
  }
  void on_error(const proton::error_condition& e) override {
    Fatal(Status::Unavailable("AMQP error: " + e.what()));
  }

  // Pending timers would keep the container running: stop it once the connection is gone.
  void on_transport_close(proton::transport&) override {
    if (stopping_) closed_ = true;
  }

  const Status& status() const { return status_; }
  const BridgeCounters& counters() const { return counters_; }

 private:
  struct Pending {
    proton::delivery delivery;
    CanonicalEvent event;
  };
  struct DlqPending {
    proton::delivery source;
    std::string queue;
    std::string reason;
  };

  static std::string TagKey(const proton::binary& b) { return std::string(b.begin(), b.end()); }

  void ScheduleFlush(proton::container& c) {
    if (flush_scheduled_) return;
    flush_scheduled_ = true;
    // On the connection's work queue, so the accepts are written out right after the flush.
    conn_.work_queue().add([this] {
      flush_scheduled_ = false;
      Flush();
    });
  }

  // One Submit per source queue for the valid messages received so far (with that queue's
  // dead-letter count since the last one), then the accepts. On a store error: release that
  // queue's messages (the broker redelivers them) and pause.
  void Flush() {
    if (pending_.empty() && rejects_.empty()) return;
    std::map<std::string, std::vector<Pending>> by_queue;
    for (Pending& p : pending_) {
      std::string q = p.delivery.receiver().source().address();
      by_queue[q].push_back(std::move(p));
    }
    pending_.clear();
    for (const auto& [q, r] : rejects_) by_queue[q];  // queues with only rejections
    bool failed = false;
    for (auto& [queue, group] : by_queue) {
      std::vector<CanonicalEvent> events;
      events.reserve(group.size());
      for (const Pending& p : group) events.push_back(p.event);
      BatchInfo info;
      info.source = "amqp";
      info.actor = "amqp:" + queue;
      info.object = "amqp messages";
      auto rj = rejects_.find(queue);
      if (rj != rejects_.end()) {
        for (const auto& [reason, n] : rj->second) {
          info.rejected += n;
          info.reject_reasons[reason] += n;
        }
      }
      Status st =
          events.empty() ? core_.RecordRejection(info) : core_.Submit(events, info).status();
      if (st.ok()) {
        for (Pending& p : group) p.delivery.accept();
        counters_.accepted += static_cast<int64_t>(group.size());
        if (rj != rejects_.end()) rejects_.erase(rj);
        continue;
      }
      failed = true;
      for (Pending& p : group) p.delivery.release();
      counters_.released += static_cast<int64_t>(group.size());
      log::Warn(
          "bridge", "store error: messages released for redelivery",
          {{"queue", queue}, {"count", std::to_string(group.size())}, {"error", st.ToString()}});
    }
    if (!failed) {
      backoff_ms_ = 0;
      return;
    }
    backoff_ms_ = std::min<int64_t>(backoff_ms_ == 0 ? 200 : backoff_ms_ * 2, 10000);
    // Blocking the event loop is the back-off: no new message is taken meanwhile.
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms_));
  }

  void DeadLetter(proton::delivery& d, const proton::message& m, const std::string& queue,
                  const BridgeParse& p) {
    if (!dlq_ || !dlq_.active()) {  // cannot dead-letter now: give it back
      d.release();
      counters_.released++;
      return;
    }
    proton::message out;
    out.body(m.body());  // the broker's message as received (never logged)
    // The original message-id goes in a property: a new message with another's id could be
    // taken for a duplicate by the broker.
    out.properties().put("ctml_message_id", MessageIdText(m));
    if (!m.content_type().empty()) out.content_type(m.content_type());
    out.durable(true);
    out.properties().put("ctml_reason", p.reason);
    out.properties().put("ctml_field", p.field);
    out.properties().put("ctml_source_queue", queue);
    out.properties().put("ctml_message", p.message);
    std::string tag = "dlq-" + std::to_string(++dlq_seq_);
    dlq_.send(out, proton::binary(tag.begin(), tag.end()));
    dlq_pending_.emplace(tag, DlqPending{d, queue, p.reason});
    log::Info("bridge", "dead-lettered",
              {{"queue", queue}, {"reason", p.reason}, {"field", p.field}});
  }

  void DlqFailed(proton::tracker& t, const char* what) {
    auto it = dlq_pending_.find(TagKey(t.tag()));
    if (it == dlq_pending_.end()) return;
    log::Warn("bridge", std::string("the dead-letter queue ") + what +
                            " a message; the source message is released");
    it->second.source.release();
    counters_.released++;
    dlq_pending_.erase(it);
  }

  // Every 200 ms: progress log, the stop flag, and the end of a stop. Short timers only: proton's
  // container::run() does not return before its pending timers fired.
  void Tick(proton::container& c) {
    c.schedule(proton::duration(200), [this, &c] {
      auto now = Clock::now();
      if (now - last_stats_ >= std::chrono::milliseconds(o_.stats_interval_ms)) {
        last_stats_ = now;
        LogCounters("progress");
      }
      if (stopping_) {
        // Closing let the accepts and the close frame go out; stop when the peer answered the
        // close, or after 3 s.
        if (closed_ || now - stop_at_ > std::chrono::seconds(3)) {
          c.stop();
          return;
        }
      } else if (stop_ != nullptr && stop_->load()) {
        stopping_ = true;
        stop_at_ = now;
        conn_.work_queue().add([this] {
          Flush();
          LogCounters("stopping");
          conn_.close();
        });
      }
      Tick(c);
    });
  }

  void Fatal(Status st) {
    if (!status_.ok()) return;
    status_ = std::move(st);
    stopping_ = true;
    stop_at_ = Clock::now();
    log::Error("bridge", "stopping", {{"error", status_.ToString()}});
    if (conn_) conn_.close();
  }

  void LogCounters(const char* what) {
    log::Info("bridge", what,
              {{"received", std::to_string(counters_.received)},
               {"accepted", std::to_string(counters_.accepted)},
               {"dead_lettered", std::to_string(counters_.dead_lettered)},
               {"released", std::to_string(counters_.released)}});
  }

  const BridgeOptions& o_;
  IngestCore& core_;
  const privacy::Deidentifier& deid_;
  const std::atomic<bool>* stop_;
  proton::connection conn_;
  proton::sender dlq_;
  std::vector<Pending> pending_;
  std::map<std::string, DlqPending> dlq_pending_;
  std::map<std::string, std::map<std::string, int64_t>> rejects_;  // queue -> reason -> n
  uint64_t dlq_seq_ = 0;
  bool flush_scheduled_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  Clock::time_point stop_at_;
  int64_t backoff_ms_ = 0;
  BridgeCounters counters_;
  Clock::time_point last_stats_;
  Status status_ = Status::OK();
};

// ------------------------------------------------------------------ one-shot client handlers
// Base for --check, send and drain: no reconnect, a deadline, the first error wins.
class OneShot : public proton::messaging_handler {
 public:
  explicit OneShot(const BridgeOptions& o) : o_(o) {}
  void on_container_start(proton::container& c) override {
    conn_ = c.connect(o_.url, ConnectionOptions(o_, false));
    deadline_ = Clock::now() + std::chrono::milliseconds(o_.check_timeout_ms);
    Tick(c);
  }
  void on_transport_error(proton::transport& t) override {
    proton::error_condition e = t.error();
    if (Unauthorized(e)) {
      Finish(Status::Invalid("the broker refused the credentials: " + e.what(), "bridge.url"));
    } else {
      Finish(Status::Unavailable("cannot connect to " + RedactAmqpUrl(o_.url) + ": " + e.what()));
    }
    closed_ = true;  // nothing left to send on a failed transport
  }
  void on_connection_error(proton::connection& c) override {
    Finish(Status::Unavailable("connection error: " + c.error().what()));
  }
  void on_receiver_error(proton::receiver& r) override {
    Finish(Status::Invalid("cannot open queue " + r.source().address() + ": " + r.error().what(),
                           "bridge.queues"));
  }
  void on_sender_error(proton::sender& s) override {
    Finish(Status::Invalid("cannot send to " + s.target().address() + ": " + s.error().what(),
                           "bridge.queues"));
  }
  void on_error(const proton::error_condition& e) override {
    Finish(Status::Unavailable("AMQP error: " + e.what()));
  }
  // Pending timers would keep the container running: stop it once the connection is gone.
  void on_transport_close(proton::transport&) override { closed_ = true; }
  const Status& status() const { return status_; }

 protected:
  void Finish(Status st) {
    if (done_) return;
    done_ = true;
    status_ = std::move(st);
    finished_at_ = Clock::now();
    // A graceful close (pending dispositions go out first); Tick stops the container when the
    // transport closed, or after 3 s.
    if (conn_) conn_.close();
  }
  // Short timers only: proton's container::run() does not return before its timers fired.
  void Tick(proton::container& c) {
    c.schedule(proton::duration(100), [this, &c] {
      auto now = Clock::now();
      if (done_) {
        if (closed_ || now - finished_at_ > std::chrono::seconds(3)) {
          c.stop();
          return;
        }
      } else if (now > deadline_) {
        Finish(
            Status::Unavailable("timed out after " + std::to_string(o_.check_timeout_ms) + " ms"));
      }
      Tick(c);
    });
  }
  const BridgeOptions& o_;
  proton::connection conn_;
  bool done_ = false;
  bool closed_ = false;
  Clock::time_point deadline_;
  Clock::time_point finished_at_;
  Status status_ = Status::OK();
};

class CheckHandler : public OneShot {
 public:
  using OneShot::OneShot;
  void on_connection_open(proton::connection& c) override {
    for (const std::string& q : o_.queues) {
      c.open_receiver(q, proton::receiver_options().auto_accept(false).credit_window(0));
    }
    c.open_sender(o_.dead_letter_queue);
  }
  void on_receiver_open(proton::receiver&) override { Opened(); }
  void on_sender_open(proton::sender&) override { Opened(); }

 private:
  void Opened() {
    if (++opened_ == o_.queues.size() + 1) Finish(Status::OK());
  }
  size_t opened_ = 0;
};

class SendHandler : public OneShot {
 public:
  SendHandler(const BridgeOptions& o, std::string queue,
              const std::vector<std::pair<std::string, std::string>>& msgs)
      : OneShot(o), queue_(std::move(queue)), msgs_(msgs) {}
  void on_connection_open(proton::connection& c) override { c.open_sender(queue_); }
  void on_sendable(proton::sender& s) override {
    while (next_ < msgs_.size() && s.credit() > 0) {
      proton::message m;
      if (!msgs_[next_].first.empty()) m.id(msgs_[next_].first);
      m.body(msgs_[next_].second);
      m.content_type("application/json");
      m.durable(true);
      s.send(m);
      ++next_;
    }
    if (msgs_.empty()) Finish(Status::OK());
  }
  void on_tracker_accept(proton::tracker&) override {
    if (++accepted_ == msgs_.size()) Finish(Status::OK());
  }
  void on_tracker_reject(proton::tracker&) override {
    Finish(Status::Invalid("the broker rejected a message sent to " + queue_));
  }
  size_t accepted() const { return accepted_; }

 private:
  std::string queue_;
  const std::vector<std::pair<std::string, std::string>>& msgs_;
  size_t next_ = 0;
  size_t accepted_ = 0;
};

class DrainHandler : public OneShot {
 public:
  DrainHandler(const BridgeOptions& o, std::string queue, int max, int64_t idle_ms)
      : OneShot(o), queue_(std::move(queue)), max_(max), idle_ms_(idle_ms) {}
  void on_connection_open(proton::connection& c) override {
    c.open_receiver(queue_, proton::receiver_options().credit_window(std::max(1, max_)));
  }
  void on_receiver_open(proton::receiver& r) override {
    last_ = Clock::now();
    Watch(r.container());
  }
  void on_message(proton::delivery& d, proton::message& m) override {
    if (done_) {  // arrived after we finished: give it back instead of the automatic accept
      d.release();
      return;
    }
    QueueMessage q;
    q.message_id = MessageIdText(m);
    BodyText(m, &q.body);
    for (const char* k :
         {"ctml_reason", "ctml_field", "ctml_source_queue", "ctml_message_id", "ctml_message"}) {
      if (m.properties().exists(k)) {
        proton::scalar v = m.properties().get(k);
        q.properties.emplace_back(
            k, v.type() == proton::STRING ? proton::get<std::string>(v) : proton::to_string(v));
      }
    }
    out_.push_back(std::move(q));
    last_ = Clock::now();
    if (static_cast<int>(out_.size()) >= max_) Finish(Status::OK());
  }
  std::vector<QueueMessage>& out() { return out_; }

 private:
  void Watch(proton::container& c) {
    conn_.work_queue().schedule(proton::duration(50), [this, &c] {
      if (done_) return;
      if (Clock::now() - last_ >= std::chrono::milliseconds(idle_ms_)) {
        Finish(Status::OK());
        return;
      }
      Watch(c);
    });
  }
  std::string queue_;
  int max_;
  int64_t idle_ms_;
  Clock::time_point last_;
  std::vector<QueueMessage> out_;
};

// Runs a handler's container; proton reports some failures by exception.
Status RunContainer(proton::messaging_handler& h, const char* id) {
  try {
    proton::container c(h, id);
    c.run();
  } catch (const std::exception& e) {
    return Status::Unavailable(std::string("AMQP: ") + e.what());
  }
  return Status::OK();
}

}  // namespace

Status RunBridge(const BridgeOptions& options, IngestCore& core, const privacy::Deidentifier& deid,
                 const std::atomic<bool>* stop, BridgeCounters* counters) {
  if (options.queues.empty()) return Status::Invalid("no queues to consume", "bridge.queues");
  BridgeHandler h(options, core, deid, stop);
  Status st = RunContainer(h, "ctml-bridge");
  if (counters != nullptr) *counters = h.counters();
  CTML_RETURN_NOT_OK(st);
  return h.status();
}

Status CheckBridge(const BridgeOptions& options) {
  CheckHandler h(options);
  CTML_RETURN_NOT_OK(RunContainer(h, "ctml-bridge-check"));
  return h.status();
}

Status SendToQueue(const BridgeOptions& options, const std::string& queue,
                   const std::vector<std::pair<std::string, std::string>>& id_and_body) {
  if (id_and_body.empty()) return Status::OK();
  SendHandler h(options, queue, id_and_body);
  CTML_RETURN_NOT_OK(RunContainer(h, "ctml-bridge-send"));
  return h.status();
}

Result<std::vector<QueueMessage>> DrainQueue(const BridgeOptions& options, const std::string& queue,
                                             int max, int64_t idle_ms) {
  BridgeOptions o = options;
  o.check_timeout_ms = std::max<int64_t>(o.check_timeout_ms, idle_ms + 60000);
  DrainHandler h(o, queue, max, idle_ms);
  CTML_RETURN_NOT_OK(RunContainer(h, "ctml-bridge-drain"));
  CTML_RETURN_NOT_OK(h.status());
  return std::move(h.out());
}

}  // namespace ctml::ingest
