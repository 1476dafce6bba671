/**
 * The HTTP area: a Hono app over a Runtime (`makeApp`), and servers for Node and Deno that close gracefully.
 */
export type { AppOptions, Auth, CorsOptions } from "./app.ts"
export { makeApp } from "./app.ts"
export { InvalidBearerToken } from "./errors.ts"
export type { Fetchable, HttpServer, ServeOptions } from "./serve.ts"
export { ServeError } from "./serve.ts"
export { serveDeno } from "./serveDeno.ts"
export { serveNode } from "./serveNode.ts"
export type { HttpTask } from "./task.ts"
