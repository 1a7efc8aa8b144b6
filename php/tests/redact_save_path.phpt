--TEST--
sessionkit: a save_path that does not parse never shows what may be a password in sessionkit's warning
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.gc_probability=0
--FILE--
<?php
ob_start();
$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings) {
    $warnings[] = $msg;
    return true;
});
// Raw '/', '?', '|', '#' or '@' in a password (base64 has '/'), tiers too.
foreach ([
    'redis://:ab/cdSECRET@127.0.0.1:1',
    'redis://user:ab?cdSECRET@127.0.0.1:1/0',
    'redis://:ab|cdSECRET@127.0.0.1:1',
    'redis://:ab@cd/SECRET@127.0.0.1:1',
    'lmdb:///tmp/x|redis://u:ab/cdSECRET@127.0.0.1:1',
    'redis://u:ab/SECRET@127.0.0.1:1|redis://:pw2SECRET@127.0.0.1:2',
    'nosuch://u:SECRET@127.0.0.1',
] as $path) {
    ini_set('session.save_path', $path);
    $warnings = [];
    var_dump(session_start());
    foreach ($warnings as $w) {
        // PHP's own "Failed to initialize storage module" line quotes the
        // save path verbatim; sessionkit's lines must not.
        if (!str_starts_with($w, 'session_start(): sessionkit:')) continue;
        echo str_contains($w, 'SECRET') ? "  LEAKED: $w\n" : "  $w\n";
    }
}

// The store of this run (LMDB or Redis), given a password it does not take:
// refused when the URL is parsed (LMDB) or by the server (Redis), and in
// neither case may the password appear.
require 'store.inc';
$path = preg_replace('~^([a-z+]+)://~', '$1://:storeSECRET@',
                     sk_test_store('redact'));
ini_set('session.save_path', $path);
$warnings = [];
var_dump(session_start());
$mine = array_filter($warnings,
                     fn ($w) => str_contains($w, 'sessionkit:'));
echo count($mine) > 0 ? "warned\n" : "no warning\n";
foreach ($mine as $w) {
    if (str_contains($w, 'SECRET')) echo "  LEAKED: $w\n";
}
?>
--EXPECTF--
bool(false)
  session_start(): sessionkit: session.save_path "redis://***@127.0.0.1:1" is not usable: %s
bool(false)
  session_start(): sessionkit: session.save_path "redis://***@127.0.0.1:1/0" is not usable: %s
bool(false)
  session_start(): sessionkit: session.save_path "redis://***@127.0.0.1:1" is not usable: %s
bool(false)
  session_start(): sessionkit: session.save_path "redis://***@127.0.0.1:1" is not usable: %s
bool(false)
  session_start(): sessionkit: session.save_path "lmdb://***@127.0.0.1:1" is not usable: %s
bool(false)
  session_start(): sessionkit: session.save_path "redis://***@127.0.0.1:2" is not usable: %s
bool(false)
  session_start(): sessionkit: session.save_path "nosuch://***@127.0.0.1" is not usable: %s
bool(false)
warned
