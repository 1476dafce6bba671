import { Effect } from "effect"
import * as PostgresDb from "/work/main/src/stores/postgres/PostgresDb.ts"
Effect.runPromise(PostgresDb.migrate({ url: "postgres://postgres@127.0.0.1:5432/probe_join" })).then(() => console.log("ok"))
