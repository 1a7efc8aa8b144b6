dnl The sessionkit extension built the PECL way, against an installed
dnl libsessionkit (docs/install.md):
dnl
dnl   phpize && ./configure && make && make install
dnl
dnl pkg-config finds the library (set PKG_CONFIG_PATH to the directory of
dnl its sessionkit.pc when it is not in the default search path), and gives
dnl its flags and its version, which `php --ri sessionkit` shows. The module
dnl links the shared libsessionkit.so. The CMake build (php/CMakeLists.txt)
dnl builds the same sources into a module linked with the static library.

PHP_ARG_WITH([sessionkit],
  [for sessionkit support],
  [AS_HELP_STRING([--with-sessionkit],
    [Include the sessionkit session save handler (needs libsessionkit,
    found by pkg-config)])])

if test "$PHP_SESSIONKIT" != "no"; then
  PKG_CHECK_MODULES([SESSIONKIT], [sessionkit], [],
    [AC_MSG_ERROR([libsessionkit was not found by pkg-config: install it (see docs/install.md), or set PKG_CONFIG_PATH to the directory that holds its sessionkit.pc. pkg-config said: $SESSIONKIT_PKG_ERRORS])])
  SESSIONKIT_VERSION=`$PKG_CONFIG --modversion sessionkit`
  AC_MSG_CHECKING([libsessionkit version])
  AC_MSG_RESULT([$SESSIONKIT_VERSION])

  dnl Every sessionkit*.c beside this file is a source of the module, so
  dnl that a file added to the module needs no second list here.
  sessionkit_srcdir="PHP_EXT_SRCDIR(sessionkit)"
  sessionkit_sources=`cd "$sessionkit_srcdir" && echo sessionkit*.c`
  if test "$sessionkit_sources" = "sessionkit*.c"; then
    AC_MSG_ERROR([no sessionkit*.c sources in $sessionkit_srcdir])
  fi

  PHP_EVAL_INCLINE([$SESSIONKIT_CFLAGS])
  PHP_EVAL_LIBLINE([$SESSIONKIT_LIBS], [SESSIONKIT_SHARED_LIBADD])
  PHP_SUBST([SESSIONKIT_SHARED_LIBADD])
  sessionkit_version_flag="-DPHP_SESSIONKIT_VERSION=\\\"$SESSIONKIT_VERSION\\\""
  PHP_NEW_EXTENSION([sessionkit], [$sessionkit_sources], [$ext_shared], [],
                    [$sessionkit_version_flag])
  PHP_ADD_EXTENSION_DEP([sessionkit], [session])
fi
