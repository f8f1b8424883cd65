#include "service/event_bus.h"

#include <vector>

namespace overseer::service {

EventBus::Subscription& EventBus::Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    Reset();
    subs_ = std::move(o.subs_);
    id_ = o.id_;
  }
  return *this;
}

void EventBus::Subscription::Reset() {
  if (std::shared_ptr<void> table = subs_.lock()) static_cast<Table*>(table.get())->erase(id_);
  subs_.reset();
}

EventBus::~EventBus() = default;

EventBus::Subscription EventBus::Subscribe(Handler handler, OnClose on_close) {
  const uint64_t id = next_id_++;
  subs_->emplace(id, std::make_shared<Sub>(Sub{std::move(handler), std::move(on_close)}));
  return Subscription(std::static_pointer_cast<void>(subs_), id);
}

void EventBus::Publish(std::span<const core::Event> events) {
  if (closed_ || events.empty()) return;
  published_ += static_cast<int64_t>(events.size());
  if (subs_->empty()) return;  // the usual case: nothing to copy on the commit path
  // One snapshot per batch: handlers may (un)subscribe while being called; one that left is
  // skipped, one that joined gets the next batch.
  const std::vector<std::pair<uint64_t, std::shared_ptr<Sub>>> snapshot(subs_->begin(),
                                                                        subs_->end());
  for (const core::Event& e : events) {
    for (const auto& [id, sub] : snapshot) {
      if (subs_->count(id) != 0 && sub->handler) sub->handler(e);
    }
  }
}

void EventBus::Close() {
  if (closed_) return;
  closed_ = true;
  std::vector<std::shared_ptr<Sub>> snapshot;
  for (const auto& [id, sub] : *subs_) snapshot.push_back(sub);
  for (const auto& sub : snapshot) {
    if (sub->on_close) sub->on_close();
  }
}

}  // namespace overseer::service
