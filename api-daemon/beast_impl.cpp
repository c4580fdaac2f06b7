// The one translation unit that compiles Boost.Beast and Boost.JSON, so no other file pays for them.
#include <boost/beast/src.hpp>
#include <boost/json/src.hpp>
