"""The login portal: HTML pages for browsers (sign in, sign out, sign up) and the safe return-to redirect."""
