<?php
// Prepended (auto_prepend_file) to every page of the demo in the browser
// test: each request takes 15 ms more after its script, with its session
// still open (PHP writes the session after the shutdown functions), as an
// application's database queries would. The demo's own pages finish in
// well under a millisecond, so parallel requests of one session would
// rarely overlap; with this they do, as in production.
declare(strict_types=1);

register_shutdown_function(static function (): void {
    usleep(15000);
});
