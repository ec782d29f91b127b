// The tutorial's own stack (../shared/seed: "Session-Based User Authentication with NestJS and MongoDB"), without
// Nest's module system: express + express-session with the tutorial's settings (secret "keyboard", resave false,
// saveUninitialized false, the default MemoryStore), passport-local for POST /users/login, the tutorial's
// pass-through serializer (the whole { userId, userName } object lives in the session, never reloaded) and its
// AuthenticatedGuard (req.isAuthenticated(), else 403) on GET /users/protected, which answers req.user.
//
// Users live in memory here, not in MongoDB as the tutorial's do: the measured route never reads them (the
// tutorial's deserializeUser returns the session's copy), so only sign-up and the one login would differ.
// bcryptjs (pure JS, same $2b$10$ hashes) instead of node bcrypt: no native build; not on the measured path.
//
// node app.js PORT   (listens on 127.0.0.1 only; a benchmark peer, not a template to deploy)
"use strict";

const express = require("express");
const session = require("express-session");
const passport = require("passport");
const { Strategy: LocalStrategy } = require("passport-local");
const bcrypt = require("bcryptjs");

const users = new Map(); // username (lower-cased, as the tutorial's UsersService does) -> { id, username, password }
let nextId = 1;

passport.use(
  new LocalStrategy(async (username, password, done) => {
    // AuthService.validateUser, with its known mistake (compare before the existence check) left out.
    const user = users.get(String(username).toLowerCase());
    if (!user || !(await bcrypt.compare(password, user.password))) {
      return done(null, false);
    }
    return done(null, { userId: user.id, userName: user.username });
  }),
);
passport.serializeUser((user, done) => done(null, user));
passport.deserializeUser((payload, done) => done(null, payload));

const app = express();
app.use(express.json());
app.use(session({ secret: "keyboard", resave: false, saveUninitialized: false }));
app.use(passport.initialize());
app.use(passport.session());

function authenticated(req, res, next) {
  if (req.isAuthenticated()) {
    return next();
  }
  return res.status(403).json({ statusCode: 403, message: "Forbidden resource", error: "Forbidden" });
}

app.post("/users/signup", async (req, res) => {
  const username = String(req.body.username).toLowerCase();
  const id = String(nextId++).padStart(24, "0");
  users.set(username, { id, username, password: await bcrypt.hash(String(req.body.password), 10) });
  res.status(201).json({ msg: "User successfully registered", userId: id, userName: username });
});

app.post("/users/login", passport.authenticate("local", { failWithError: true }), (req, res) => {
  res.status(201).json({ User: req.user, msg: "User logged in" });
});

app.get("/users/protected", authenticated, (req, res) => {
  res.json(req.user);
});

app.get("/healthz", (req, res) => res.json({ status: "ok" }));

app.use((err, req, res, next) => {
  res.status(err.status || 500).json({ statusCode: err.status || 500, message: "Unauthorized" });
});

app.listen(Number(process.argv[2]), "127.0.0.1");
