// Users as the NestJS tutorial's app writes and checks them, with its own libraries (node bcrypt 5, the mongodb
// driver its Mongoose 6 uses). One JSON request on stdin, one JSON answer on stdout:
//   write   {url, database, users: [{username, password}]}  -> [{userId, username}]
//           UsersService.insertUser: username.toLowerCase(), bcrypt.hash(password, 10), Mongoose's timestamps and __v
//   login   {url, database, username, password}             -> {userId, username} or null
//           LocalStrategy + AuthService.validateUser: findOne({username: toLowerCase()}), bcrypt.compare
//   hash    {password}                                      -> the hash insertUser stores: bcrypt.hash(password, 10)
//   compare {password, hash}                                -> true or false
"use strict";

const bcrypt = require("bcrypt");

const SALT_ROUNDS = 10; // the tutorial's saltOrRounds

async function withUsers(request, use) {
  const { MongoClient } = require("mongodb"); // only here: hash and compare start faster without it
  const client = new MongoClient(request.url, { serverSelectionTimeoutMS: 5000 });
  try {
    await client.connect();
    return await use(client.db(request.database).collection("users"));
  } finally {
    await client.close();
  }
}

async function write(request) {
  return withUsers(request, async (users) => {
    const written = [];
    for (const { username, password } of request.users) {
      const now = new Date(); // Mongoose's { timestamps: true }: both set at creation
      const doc = {
        username: username.toLowerCase(),
        password: await bcrypt.hash(password, SALT_ROUNDS),
        createdAt: now,
        updatedAt: now,
        __v: 0,
      };
      const { insertedId } = await users.insertOne(doc);
      written.push({ userId: insertedId.toHexString(), username: doc.username });
    }
    return written;
  });
}

async function login(request) {
  return withUsers(request, async (users) => {
    const user = await users.findOne({ username: request.username.toLowerCase() });
    if (!user || !(await bcrypt.compare(request.password, user.password))) {
      return null;
    }
    return { userId: user._id.toHexString(), username: user.username };
  });
}

async function hash(request) {
  return bcrypt.hash(request.password, SALT_ROUNDS);
}

async function compare(request) {
  return bcrypt.compare(request.password, request.hash);
}

const COMMANDS = { write, login, hash, compare };

async function main() {
  const command = COMMANDS[process.argv[2]];
  if (!command) {
    throw new Error(`usage: tutorial_users.js ${Object.keys(COMMANDS).join("|")} < request.json`);
  }
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  const answer = await command(JSON.parse(Buffer.concat(chunks).toString("utf8")));
  process.stdout.write(JSON.stringify(answer) + "\n");
}

main().catch((error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
