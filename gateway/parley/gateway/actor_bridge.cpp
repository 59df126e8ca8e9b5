// CAF only: no Beast header may be included here (compile cost).
#include "parley/gateway/actor_bridge.hpp"

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

#include <variant>

namespace parley::gateway {

namespace {

class actor_connection final : public connection_handle {
public:
  actor_connection(actors::connection_actor handle, proto::codec_limits limits)
    : handle_(std::move(handle)), limits_(limits) {
    // nop
  }

  ~actor_connection() override {
    stop();
  }

  void deliver(std::string_view payload, proto::encoding enc) override {
    auto res = proto::decode_client(payload, enc, limits_);
    if (auto* frame = std::get_if<v1::ClientFrame>(&res))
      caf::anon_send(handle_, actors::frame_atom::value, std::move(*frame), enc);
    else
      caf::anon_send(handle_, actors::bad_frame_atom::value,
                     std::move(std::get<proto::decode_error>(res)), enc);
  }

  void stop() override {
    if (handle_) {
      caf::anon_send_exit(handle_, caf::exit_reason::user_shutdown);
      handle_ = nullptr;
    }
  }

private:
  actors::connection_actor handle_;
  proto::codec_limits limits_;
};

} // namespace

connection_factory make_connection_factory(caf::actor_system& sys, actors::rooms_actor rooms,
                                           actors::connection_config cfg) {
  return [&sys, rooms = std::move(rooms), cfg = std::move(cfg)](
           std::string session_id,
           actors::frame_sink_ptr sink) -> std::unique_ptr<connection_handle> {
    auto handle = sys.spawn(actors::connection_impl, std::move(session_id), cfg, rooms,
                            std::move(sink));
    return std::make_unique<actor_connection>(std::move(handle), cfg.limits);
  };
}

} // namespace parley::gateway
