//! ONNX protobuf messages, a graph builder and a streaming writer.

pub mod builder;
pub mod proto;
pub mod writer;
