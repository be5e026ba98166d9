// KILN_OPTION(type, name): a member of an options struct with a chained setter,
//   opts.name(value) returns the struct, opts.name() reads it, stored in name_.
// The layers' options structs (nn::LinearOptions, nn::GATConvOptions, ...) use it.
#pragma once

#define KILN_OPTION(type, name) \
  auto& name(type value) {      \
    name##_ = value;            \
    return *this;               \
  }                             \
  type name() const { return name##_; }
