--TEST--
sessionkit: the module is registered as a save handler and phpinfo() shows its version
--EXTENSIONS--
sessionkit
--INI--
session.save_handler=sessionkit
--FILE--
<?php
var_dump(extension_loaded('sessionkit'));
$version = phpversion('sessionkit');
var_dump((bool) preg_match('/^\d+\.\d+\.\d+/', $version));
ob_start();
phpinfo(INFO_MODULES);
$info = ob_get_clean();
var_dump(str_contains($info, "sessionkit support => enabled"));
var_dump(str_contains($info, "Version => $version"));
var_dump(str_contains($info, 'Registered save handlers => ') &&
         (bool) preg_match('/Registered save handlers => .*\bsessionkit\b/', $info));
var_dump(ini_get('session.save_handler') === 'sessionkit');
?>
--EXPECT--
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
