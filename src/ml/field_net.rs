//! The network of the form models (field type and page industry): an embedding bag (mean of
//! the hashed n-gram rows) concatenated with the dense features, one hidden ReLU layer with
//! dropout, and a linear output. Also the [`TrainTask`] over featurized examples that the shared
//! training loop drives, and weight transfer between label lists (a fine-tune with new labels
//! starts from the base model's text representation).

use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Device, Kind, Tensor};

use super::field_features::{Featurized, BUCKETS, FEATURES_VERSION};
use super::train::TrainTask;

/// Shape of a network; recorded as the model's spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    pub features_version: u32,
    pub buckets: i64,
    pub dim: i64,
    pub dense: i64,
    pub hidden: i64,
    pub classes: i64,
}

impl NetSpec {
    pub fn new(dense: usize, classes: usize) -> NetSpec {
        NetSpec {
            features_version: FEATURES_VERSION,
            buckets: BUCKETS,
            dim: 48,
            dense: dense as i64,
            hidden: 128,
            classes: classes as i64,
        }
    }

    /// Read a spec from a model's spec JSON.
    pub fn from_json(v: &serde_json::Value) -> anyhow::Result<NetSpec> {
        let s: NetSpec =
            serde_json::from_value(v.get("net").cloned().unwrap_or_else(|| v.clone()))?;
        anyhow::ensure!(
            s.features_version == FEATURES_VERSION && s.buckets == BUCKETS,
            "model features v{} ({} buckets) do not match this build's v{FEATURES_VERSION} ({BUCKETS})",
            s.features_version,
            s.buckets
        );
        Ok(s)
    }
}

/// The network and its variables.
pub struct BagNet {
    pub vs: nn::VarStore,
    pub spec: NetSpec,
    emb: Tensor,
    hidden: nn::Linear,
    out: nn::Linear,
}

impl BagNet {
    pub fn new(spec: NetSpec, device: Device) -> BagNet {
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let emb = root.var(
            "emb",
            &[spec.buckets, spec.dim],
            nn::Init::Randn {
                mean: 0.0,
                stdev: 0.1,
            },
        );
        let hidden = nn::linear(
            &root / "hidden",
            spec.dim + spec.dense,
            spec.hidden,
            Default::default(),
        );
        let out = nn::linear(&root / "out", spec.hidden, spec.classes, Default::default());
        BagNet {
            vs,
            spec,
            emb,
            hidden,
            out,
        }
    }

    /// Load weights saved by [`crate::ml::train::save_var_store_atomic`].
    pub fn load(spec: NetSpec, path: &Path, device: Device) -> anyhow::Result<BagNet> {
        let mut net = BagNet::new(spec, device);
        net.vs
            .load(path)
            .map_err(|e| anyhow::anyhow!("loading form model weights {}: {e}", path.display()))?;
        Ok(net)
    }

    /// Copy the text representation and hidden layer of `src`, and the output rows of labels
    /// both know (`src_labels` -> `dst_labels`), so a model with other labels starts from it.
    pub fn transfer_from(&mut self, src: &BagNet, src_labels: &[String], dst_labels: &[String]) {
        if src.spec.dim != self.spec.dim
            || src.spec.dense != self.spec.dense
            || src.spec.hidden != self.spec.hidden
        {
            return;
        }
        tch::no_grad(|| {
            self.emb.copy_(&src.emb.to_device(self.vs.device()));
            self.hidden
                .ws
                .copy_(&src.hidden.ws.to_device(self.vs.device()));
            if let (Some(d), Some(s)) = (self.hidden.bs.as_mut(), src.hidden.bs.as_ref()) {
                d.copy_(&s.to_device(d.device()));
            }
            for (j, l) in dst_labels.iter().enumerate() {
                if let Some(i) = src_labels.iter().position(|s| s == l) {
                    let (i, j) = (i as i64, j as i64);
                    self.out
                        .ws
                        .get(j)
                        .copy_(&src.out.ws.get(i).to_device(self.vs.device()));
                    if let (Some(d), Some(s)) = (self.out.bs.as_ref(), src.out.bs.as_ref()) {
                        d.get(j).copy_(&s.get(i).to_device(d.device()));
                    }
                }
            }
        });
    }

    /// Logits for a batch of featurized examples.
    pub fn forward(&self, batch: &[&Featurized], train: bool) -> Tensor {
        let device = self.vs.device();
        let mut flat = Vec::new();
        let mut offsets = Vec::with_capacity(batch.len());
        let mut dense = Vec::with_capacity(batch.len() * self.spec.dense as usize);
        for ex in batch {
            offsets.push(flat.len() as i64);
            flat.extend_from_slice(&ex.ids);
            dense.extend_from_slice(&ex.dense);
        }
        let ids = Tensor::from_slice(&flat).to(device);
        let offs = Tensor::from_slice(&offsets).to(device);
        let (bag, _, _, _) =
            Tensor::embedding_bag::<Tensor>(&self.emb, &ids, &offs, false, 1, false, None, false);
        let dense = Tensor::from_slice(&dense)
            .view([batch.len() as i64, self.spec.dense])
            .to(device);
        let x = Tensor::cat(&[bag.dropout(0.2, train), dense], 1);
        let h = self.hidden.forward(&x).relu().dropout(0.3, train);
        self.out.forward(&h)
    }

    /// Class probabilities for examples, in batches, without gradients.
    pub fn predict(&self, examples: &[Featurized]) -> anyhow::Result<Vec<Vec<f32>>> {
        let _g = tch::no_grad_guard();
        let mut out = Vec::with_capacity(examples.len());
        for chunk in examples.chunks(512) {
            let refs: Vec<&Featurized> = chunk.iter().collect();
            let p = self
                .forward(&refs, false)
                .softmax(-1, Kind::Float)
                .to_device(Device::Cpu);
            out.extend(Vec::<Vec<f32>>::try_from(&p)?);
        }
        Ok(out)
    }
}

/// A network with its examples: what the shared training loop trains.
pub struct BagTask {
    pub net: BagNet,
    pub examples: Vec<Featurized>,
    pub labels: Vec<String>,
}

impl TrainTask for BagTask {
    fn forward(&self, idx: &[usize], train: bool) -> anyhow::Result<Tensor> {
        let batch: Vec<&Featurized> = idx
            .iter()
            .map(|&i| {
                self.examples
                    .get(i)
                    .ok_or_else(|| anyhow::anyhow!("example {i} out of range"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(self.net.forward(&batch, train))
    }
    fn var_store(&self) -> &nn::VarStore {
        &self.net.vs
    }
}
