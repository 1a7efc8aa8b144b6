--TEST--
runner check: a test that passes at once
--FILE--
<?php
echo "ok\n";
?>
--EXPECT--
ok
