// EventBus: the typed events of committed changes, published in-process to subscribers (a
// job's waiters now; the SSE/WebSocket stream, MCP notifications and metrics later). Events are
// published after their change is committed and memory follows it, in commit order. Loop
// thread only; handlers run on the loop and must not block.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>

#include "core/types.h"

namespace overseer::service {

class EventBus {
 public:
  using Handler = std::function<void(const core::Event&)>;
  using OnClose = std::function<void()>;

  // Keeps its handler subscribed while it lives (move-only).
  class Subscription {
   public:
    Subscription() = default;
    Subscription(Subscription&& o) noexcept : subs_(std::move(o.subs_)), id_(o.id_) {}
    Subscription& operator=(Subscription&& o) noexcept;
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { Reset(); }
    void Reset();

   private:
    friend class EventBus;
    Subscription(std::weak_ptr<void> subs, uint64_t id) : subs_(std::move(subs)), id_(id) {}
    std::weak_ptr<void> subs_;  // the bus's table (a subscription may outlive the bus)
    uint64_t id_ = 0;
  };

  EventBus() = default;
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;
  ~EventBus();

  // `handler` gets every event published from now on; `on_close` (optional) runs once when the
  // bus closes (shutdown), so that a waiting subscriber can answer.
  [[nodiscard]] Subscription Subscribe(Handler handler, OnClose on_close = nullptr);
  // To every subscriber, in order. A handler may subscribe or unsubscribe (itself included); one
  // that subscribes during a Publish gets the events of the next one.
  void Publish(std::span<const core::Event> events);
  // Shutdown: every subscriber's on_close runs; nothing is published any more.
  void Close();

  size_t subscribers() const { return subs_->size(); }
  int64_t published() const { return published_; }

 private:
  struct Sub {
    Handler handler;
    OnClose on_close;
  };
  using Table = std::map<uint64_t, std::shared_ptr<Sub>>;
  std::shared_ptr<Table> subs_ = std::make_shared<Table>();
  uint64_t next_id_ = 1;
  int64_t published_ = 0;
  bool closed_ = false;
};

}  // namespace overseer::service
