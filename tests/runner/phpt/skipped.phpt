--TEST--
runner check: a skipped test
--SKIPIF--
<?php echo "skip planted skip"; ?>
--FILE--
<?php
echo "ok\n";
?>
--EXPECT--
ok
