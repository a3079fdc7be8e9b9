//! Everything that runs tch: device choice, backbones, heads, TorchScript models, the form
//! field model, training and metrics. The UI never calls tch directly; it goes through here
//! (via jobs).

pub mod backbone;
pub mod calibration;
pub mod catalog;
pub mod confident;
pub mod detector;
pub mod device;
pub mod efficientnet_lite;
pub mod family;
pub mod field_eval;
pub mod field_features;
pub mod field_industry;
pub mod field_model;
pub mod field_net;
pub mod frozen;
pub mod image_finetune;
pub mod image_head;
pub mod image_pipeline;
pub mod image_torchscript;
pub mod metrics;
pub mod objects;
pub mod project;
pub mod propagation;
pub mod similarity;
pub mod split;
pub mod suspects;
pub mod train;
