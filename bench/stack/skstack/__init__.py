"""The web-stack harness: nginx + php-fpm + stores + wrk, for bench-stack and
fault-stack. See docs/stack.md."""
