<?php
// Front controller of the Symfony HttpFoundation example on sessionkit.
// php.ini (or the php-fpm pool) chooses the store:
//   session.save_handler = sessionkit
//   session.save_path    = "lmdb:///var/lib/sessionkit"
// APP_SESSION_HANDLER (env[] of the pool) = native (default) or symfony:
// see src/NativeSessionProxy.php.

use App\App;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Session\Session;

// Debian's php-symfony-http-foundation, or Composer's autoloader.
if (is_file(__DIR__.'/../vendor/autoload.php')) {
    require __DIR__.'/../vendor/autoload.php';
} else {
    require 'Symfony/Component/HttpFoundation/autoload.php';
}
require __DIR__.'/../src/NativeSessionProxy.php';
require __DIR__.'/../src/App.php';

$request = Request::createFromGlobals();
$session = new Session(App::storage($_SERVER['APP_SESSION_HANDLER'] ?? 'native'));
$request->setSession($session);
(new App($session))->handle($request)->send();
