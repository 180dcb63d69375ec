//! A small graph builder: nodes get unique names from a prefix and a counter, small constants are
//! `Constant` nodes (so subgraphs of `If` can carry their own), weights are referenced by name.

use super::proto::{AttributeProto, AttributeType, DataType, GraphProto, NodeProto, TensorProto, ValueInfoProto};

/// Builds one graph (the main graph or an `If` branch). Values are referred to by name.
pub struct Graph {
    prefix: String,
    counter: usize,
    pub nodes: Vec<NodeProto>,
    pub inputs: Vec<ValueInfoProto>,
    pub outputs: Vec<ValueInfoProto>,
}

/// An attribute value for [`Graph::node`].
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Graph(GraphProto),
}

impl Graph {
    pub fn new(prefix: &str) -> Graph {
        Graph { prefix: prefix.to_string(), counter: 0, nodes: Vec::new(), inputs: Vec::new(), outputs: Vec::new() }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{}{}_{}", self.prefix, hint, self.counter)
    }

    /// Adds a node with `n_out` fresh outputs and returns their names.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>, n_out: usize) -> Vec<String> {
        let name = self.fresh(op);
        let outputs: Vec<String> = (0..n_out).map(|i| format!("{name}_o{i}")).collect();
        self.node_named(op, inputs, attrs, &name, outputs.clone());
        outputs
    }

    /// Adds a node whose outputs have the given names (graph outputs, `present.*`).
    pub fn node_named(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        name: &str,
        outputs: Vec<String>,
    ) {
        self.node_in("", op, inputs, attrs, name, outputs);
    }

    /// A `com.microsoft` contrib operator (ONNX Runtime's fused kernels). `outputs` holds a name,
    /// or `None` for an optional output left out; returns the given names in order.
    pub fn contrib(
        &mut self,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        outputs: &[Option<&str>],
    ) -> Vec<String> {
        let name = self.fresh(op);
        let outs: Vec<String> = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| match o {
                Some("") => format!("{name}_o{i}"),
                Some(n) => n.to_string(),
                None => String::new(),
            })
            .collect();
        self.node_in("com.microsoft", op, inputs, attrs, &name, outs.clone());
        outs
    }

    fn node_in(
        &mut self,
        domain: &str,
        op: &str,
        inputs: &[&str],
        attrs: Vec<(&str, Attr)>,
        name: &str,
        outputs: Vec<String>,
    ) {
        let attribute = attrs
            .into_iter()
            .map(|(name, a)| {
                let mut p = AttributeProto { name: name.to_string(), ..Default::default() };
                match a {
                    Attr::Int(i) => {
                        p.r#type = AttributeType::Int as i32;
                        p.i = i;
                    }
                    Attr::Ints(v) => {
                        p.r#type = AttributeType::Ints as i32;
                        p.ints = v;
                    }
                    Attr::Float(f) => {
                        p.r#type = AttributeType::Float as i32;
                        p.f = f;
                    }
                    Attr::Graph(g) => {
                        p.r#type = AttributeType::Graph as i32;
                        p.g = Some(g);
                    }
                }
                p
            })
            .collect();
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs,
            name: name.to_string(),
            op_type: op.to_string(),
            domain: domain.to_string(),
            attribute,
            doc_string: String::new(),
        });
    }

    /// One-output node.
    pub fn op(&mut self, op: &str, inputs: &[&str]) -> String {
        self.node(op, inputs, vec![], 1).remove(0)
    }

    pub fn op_attr(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>) -> String {
        self.node(op, inputs, attrs, 1).remove(0)
    }

    fn constant(&mut self, t: TensorProto) -> String {
        let name = self.fresh("const");
        self.nodes.push(NodeProto {
            input: vec![],
            output: vec![name.clone()],
            name: format!("{name}_node"),
            op_type: "Constant".into(),
            domain: String::new(),
            attribute: vec![AttributeProto {
                name: "value".into(),
                r#type: AttributeType::Tensor as i32,
                t: Some(t),
                ..Default::default()
            }],
            doc_string: String::new(),
        });
        name
    }

    /// A 1-D int64 constant.
    pub fn const_i64(&mut self, v: &[i64]) -> String {
        self.constant(TensorProto {
            dims: vec![v.len() as i64],
            data_type: DataType::Int64 as i32,
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        })
    }

    /// A scalar int64 constant.
    pub fn scalar_i64(&mut self, v: i64) -> String {
        self.constant(TensorProto {
            dims: vec![],
            data_type: DataType::Int64 as i32,
            raw_data: v.to_le_bytes().to_vec(),
            ..Default::default()
        })
    }

    /// A scalar float constant.
    pub fn scalar_f32(&mut self, v: f32) -> String {
        self.const_f32(&[v], &[])
    }

    /// A float constant of any shape.
    pub fn const_f32(&mut self, v: &[f32], dims: &[i64]) -> String {
        self.constant(TensorProto {
            dims: dims.to_vec(),
            data_type: DataType::Float as i32,
            raw_data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ..Default::default()
        })
    }

    pub fn reshape(&mut self, x: &str, shape: &[i64]) -> String {
        let s = self.const_i64(shape);
        self.op("Reshape", &[x, &s])
    }

    pub fn transpose(&mut self, x: &str, perm: &[i64]) -> String {
        self.op_attr("Transpose", &[x], vec![("perm", Attr::Ints(perm.to_vec()))])
    }

    pub fn unsqueeze(&mut self, x: &str, axes: &[i64]) -> String {
        let a = self.const_i64(axes);
        self.op("Unsqueeze", &[x, &a])
    }

    pub fn concat(&mut self, xs: &[&str], axis: i64) -> String {
        self.op_attr("Concat", xs, vec![("axis", Attr::Int(axis))])
    }

    pub fn cast(&mut self, x: &str, to: DataType) -> String {
        self.op_attr("Cast", &[x], vec![("to", Attr::Int(to as i64))])
    }

    /// `Shape(x)[index]` as a scalar int64.
    pub fn dim(&mut self, x: &str, index: i64) -> String {
        let shape = self.op("Shape", &[x]);
        let i = self.scalar_i64(index);
        self.op_attr("Gather", &[&shape, &i], vec![("axis", Attr::Int(0))])
    }

    /// `Slice(x)` along one axis.
    pub fn slice(&mut self, x: &str, axis: i64, start: i64, end: i64) -> String {
        let s = self.const_i64(&[start]);
        let e = self.const_i64(&[end]);
        let a = self.const_i64(&[axis]);
        self.op("Slice", &[x, &s, &e, &a])
    }

    /// One-output node whose output gets an exact name (graph outputs, `present.*`).
    pub fn op_named(&mut self, op: &str, inputs: &[&str], attrs: Vec<(&str, Attr)>, out: &str) -> String {
        let name = self.fresh(op);
        self.node_named(op, inputs, attrs, &name, vec![out.to_string()]);
        out.to_string()
    }

    pub fn identity_to(&mut self, x: &str, out: &str) {
        let name = self.fresh("Identity");
        self.node_named("Identity", &[x], vec![], &name, vec![out.to_string()]);
    }

    pub fn into_proto(self, name: &str) -> GraphProto {
        GraphProto {
            node: self.nodes,
            name: name.to_string(),
            initializer: vec![],
            doc_string: String::new(),
            input: self.inputs,
            output: self.outputs,
            value_info: vec![],
        }
    }
}
