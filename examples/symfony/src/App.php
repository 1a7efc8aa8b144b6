<?php

namespace App;

use Symfony\Component\HttpFoundation\JsonResponse;
use Symfony\Component\HttpFoundation\Request;
use Symfony\Component\HttpFoundation\Response;
use Symfony\Component\HttpFoundation\Session\Session;
use Symfony\Component\HttpFoundation\Session\Storage\NativeSessionStorage;

/**
 * The routes of the example: a login that migrates the session, a flash
 * message, a cart counter, a logout that invalidates the session, and the
 * session's state as JSON.
 */
final class App
{
    private const ROUTES = [
        'GET /' => 'state',
        'GET /state' => 'state',
        'POST /login' => 'login',
        'GET /flash' => 'flash',
        'POST /cart/add' => 'addToCart',
        'POST /logout' => 'logout',
    ];

    /**
     * The session storage: PHP's session module with the handler of
     * php.ini (session.save_handler = sessionkit, session.save_path = the
     * store URL). $handler 'native' (the default) keeps PHP calling
     * sessionkit directly; 'symfony' passes null, as
     * framework.session.handler_id: null does.
     */
    public static function storage(string $handler): NativeSessionStorage
    {
        $options = [
            'cookie_httponly' => true,
            'cookie_samesite' => 'lax',
            'use_strict_mode' => 1,
        ];

        return new NativeSessionStorage(
            $options,
            'symfony' === $handler ? null : new NativeSessionProxy()
        );
    }

    public function __construct(private Session $session)
    {
    }

    public function handle(Request $request): Response
    {
        $route = self::ROUTES[$request->getMethod().' '.$request->getPathInfo()] ?? null;
        if (null === $route) {
            return new JsonResponse(['error' => 'no such route'], 404);
        }
        // Started (and locked by sessionkit) until save() below.
        $this->session->start();
        $response = $this->$route($request);
        $this->session->save();

        return $response;
    }

    private function state(): Response
    {
        return new JsonResponse([
            'id' => $this->session->getId(),
            'user' => $this->session->get('user'),
            'cart' => $this->session->get('cart', 0),
            'flashes' => $this->session->getFlashBag()->peekAll(),
            'save_handler' => \ini_get('session.save_handler'),
        ]);
    }

    private function login(Request $request): Response
    {
        $user = (string) $request->request->get('user', '');
        if ('' === $user) {
            return new JsonResponse(['error' => 'user missing'], 400);
        }
        // A new id for the logged-in session; the old one is destroyed.
        $this->session->migrate(true);
        $this->session->set('user', $user);
        $this->session->getFlashBag()->add('notice', "Welcome, $user");

        return new JsonResponse(['user' => $user, 'id' => $this->session->getId()]);
    }

    private function flash(): Response
    {
        // all() hands the messages out and removes them: shown once.
        return new JsonResponse(['flashes' => $this->session->getFlashBag()->all()]);
    }

    private function addToCart(): Response
    {
        $cart = $this->session->get('cart', 0) + 1;
        $this->session->set('cart', $cart);

        return new JsonResponse(['cart' => $cart]);
    }

    private function logout(): Response
    {
        // Empties the session and gives it a new id; the old one is
        // destroyed.
        $this->session->invalidate();

        return new JsonResponse(['user' => null, 'id' => $this->session->getId()]);
    }
}
