// Conversions of client-supplied whole numbers that check bounds before any arithmetic, so that
// no input can overflow (undefined behaviour) and wrap back into range.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace smsbridge::api {

// `minutes` as seconds when minutes × 60 lies within [min_seconds, max_seconds] (both ≥ 0);
// nullopt otherwise. The bounds are applied to minutes, so minutes × 60 is computed only when
// it is known to be small (4611686018427387964 minutes would wrap to 3600 s).
std::optional<std::int64_t> minutes_within(std::int64_t minutes, std::int64_t min_seconds, std::int64_t max_seconds);

// The one parser of whole numbers from text (query strings, settings, flags): decimal digits
// only, optionally a leading '-', nothing else, within [min, max]; nullopt otherwise.
std::optional<std::int64_t> whole_number(std::string_view text, std::int64_t min = INT64_MIN, std::int64_t max = INT64_MAX);

}  // namespace smsbridge::api
