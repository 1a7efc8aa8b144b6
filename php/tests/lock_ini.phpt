--TEST--
sessionkit: lock ini settings, their defaults and refused values
--EXTENSIONS--
sessionkit
--FILE--
<?php
foreach (['locking', 'lock_wait_ms', 'lock_lease_ms', 'lock_max_waiters',
          'lock_timeout_action'] as $name) {
    var_dump(ini_get("sessionkit.$name"));
}
var_dump(ini_set('sessionkit.lock_timeout_action', 'fail'));
var_dump(ini_set('sessionkit.lock_timeout_action', 'wait'));
var_dump(ini_get('sessionkit.lock_timeout_action'));
var_dump(ini_set('sessionkit.lock_wait_ms', '-2'));
var_dump(ini_set('sessionkit.lock_wait_ms', '-1'), ini_get('sessionkit.lock_wait_ms'));
var_dump(ini_set('sessionkit.lock_max_waiters', '3'));
var_dump(ini_get('sessionkit.lock_max_waiters'));
var_dump(ini_set('sessionkit.locking', '0'), ini_get('sessionkit.locking'));
?>
--EXPECTF--
string(1) "1"
string(4) "auto"
string(1) "0"
string(1) "0"
string(8) "readonly"
string(8) "readonly"

Warning: ini_set(): sessionkit.lock_timeout_action must be "readonly" or "fail" in %s on line %d
bool(false)
string(4) "fail"

Warning: ini_set(): sessionkit.lock_wait_ms must be "auto" or between 0 and 2147483647, not "-2" in %s on line %d
bool(false)
string(4) "auto"
string(2) "-1"
string(1) "0"
string(1) "3"
string(1) "1"
string(1) "0"
