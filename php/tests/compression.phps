<?php
ob_start();
require 'store.inc';
$path = sk_test_store('compression');
session_save_path($path);

foreach (['compression', 'compression_level', 'compression_threshold'] as $name) {
    var_dump(ini_get("sessionkit.$name"));
}
var_dump(ini_set('sessionkit.compression', 'brotli'));
var_dump(ini_set('sessionkit.compression_level', '23'));
var_dump(ini_set('sessionkit.compression_threshold', '-1'));
var_dump(ini_get('sessionkit.compression'), ini_get('sessionkit.compression_level'),
         ini_get('sessionkit.compression_threshold'));

// Runs $code in another PHP process with session $id started and
// compression set to $codec.
function child(string $path, string $id, string $codec, string $code): void {
    $cmd = getenv('TEST_PHP_EXECUTABLE') . ' ' . getenv('TEST_PHP_EXTRA_ARGS')
        . ' -d sessionkit.compression=' . $codec
        . ' -d ' . escapeshellarg("session.save_path=\"$path\"")
        . ' -r ' . escapeshellarg("session_id(\$argv[1]); session_start(); $code")
        . ' ' . escapeshellarg($id) . ' 2>&1';
    echo shell_exec($cmd);
}

// A cart of 200 lines: some 20 KB, above the threshold.
$cart = [];
for ($i = 0; $i < 200; $i++) {
    $cart[] = ['sku' => sprintf('SKU-%06d', $i), 'name' => 'Organic cotton T-shirt',
               'qty' => $i % 4 + 1, 'price' => 19.99];
}
session_id('compressionsession0123456789abc');
session_start();
$_SESSION = ['csrf' => str_repeat('f00d', 16), 'cart' => $cart];
session_write_close();
$digest = md5(serialize($cart));

// Written with zstd, read by a process whose setting is none; it writes
// back under lz4, read here under snappy.
child($path, 'compressionsession0123456789abc', 'none',
      'echo "child: ", count($_SESSION["cart"]), " lines, ",'
      . ' md5(serialize($_SESSION["cart"])) === "' . $digest . '" ? "same" : "changed", "\n";'
      . ' ini_set("sessionkit.compression", "lz4"); $_SESSION["seen"] = "lz4";');
ini_set('sessionkit.compression', 'snappy');
session_id('compressionsession0123456789abc');
session_start();
echo 'parent: ', count($_SESSION['cart']), ' lines, ',
     md5(serialize($_SESSION['cart'])) === $digest ? 'same' : 'changed',
     ', seen ', $_SESSION['seen'], "\n";
session_write_close();
?>
