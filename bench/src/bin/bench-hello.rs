//! The baseline of `make bench-lambda`: a minimal `lambda_http` hello-world (the shape of
//! `cargo lambda new`), built with the same profile as the functions.

use lambda_http::{run, service_fn, Body, Error, Request, Response};

async fn hello(_req: Request) -> Result<Response<Body>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(Body::from("Hello world"))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(hello)).await
}
