--TEST--
sessionkit: with sessionkit.metrics set, sessions work as before and the metrics file is created
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
session.use_cookies=0
session.cache_limiter=
session.use_strict_mode=0
session.gc_probability=0
sessionkit.metrics={PWD}/metrics.phpt.metrics
--FILE--
<?php
ob_start();
require 'store.inc';
$path = sk_test_store('metrics');
$file = ini_get('sessionkit.metrics');
@unlink($file);
register_shutdown_function(fn () => @unlink($file));

var_dump(session_start());
$id = session_id();
$_SESSION['n'] = 1;
var_dump(session_write_close());
session_id($id);
var_dump(session_start());
var_dump($_SESSION['n']);
var_dump(session_destroy());

// The file every worker counts into: a header page and 512 slots of 12 KiB
// (src/metrics/metrics_layout.h), starting with its magic.
clearstatcache();
var_dump(filesize($file) === 4096 + 512 * 12288);
var_dump(file_get_contents($file, false, null, 0, 8));
// Not settable from a script: each file is its own engine.
var_dump(ini_set('sessionkit.metrics', '/tmp/other'));
echo ob_get_clean();
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
int(1)
bool(true)
bool(true)
string(8) "SKMETRIC"
bool(false)
