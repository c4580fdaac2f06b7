// The one translation unit that compiles Boost.Asio, so no other file pays for it.
#include <boost/asio/impl/src.hpp>
