"""Scale out on TorchRec (extra `scale`): the same model, its tables sharded, trained on many processes.

    model.py    deepfm_np model <-> TorchRec EmbeddingBagCollection + the shared Head (export/torch_module.py)
    data.py     each rank's shard of a file, read with the project's readers and the model file's Encoder
    dist.py     process group, sharding plan, DistributedModelParallel, gather back to one model file
    trainer.py  the per-process training loop: fused table optimizer, dense optimizer, checkpoints, AUC

Nothing here is imported by the core library: `python -m deepfm_np scale-train` imports it when run.
"""
