//! Everything that runs tch: device choice, backbones, heads, TorchScript models, the form
//! field model, training and metrics. The UI never calls tch directly; it goes through here
//! (via jobs).

pub mod device;
pub mod metrics;
pub mod split;
pub mod train;
pub mod family;
pub mod registry;
pub mod backbone;
pub mod image_finetune;
pub mod image_head;
pub mod image_pipeline;
pub mod image_torchscript;
pub mod field_features;
pub mod field_net;
pub mod field_model;
pub mod field_industry;
