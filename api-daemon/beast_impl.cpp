// The one translation unit that compiles Boost.Beast, Boost.JSON and Asio's SSL support, so no
// other file pays for them.
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
