--TEST--
runner check: a test file without a --FILE-- section cannot run (BORK)
--EXPECT--
ok
