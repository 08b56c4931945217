"""Model and GPU tables, KV-cache capacity from memory, and the smallest tensor-parallel degree, checked by hand."""

import pytest

from hexsim.errors import InputError
from hexsim.profiles.gpus import canonical_gpu, gpu_spec, gpu_table
from hexsim.profiles.memory import kv_capacity_tokens, smallest_tp
from hexsim.profiles.models import model_spec, model_table

GIB = 2**30
LLAMA_70B = "meta-llama/Llama-3.1-70B-Instruct"


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("llama2-70b", "meta-llama/Llama-2-70b-hf"),
        ("LLAMA-3.1-70B", LLAMA_70B),
        (" meta-llama/llama-3.1-8b-instruct ", "meta-llama/Llama-3.1-8B-Instruct"),
        ("qwen2.5-72b", "Qwen/Qwen2.5-72B-Instruct"),
    ],
)
def test_model_aliases_are_case_insensitive(alias, name):
    assert model_spec(alias, "test").name == name


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(InputError) as err:
        model_spec("llama-4-400b", "cluster.toml: key 'model'")
    message = str(err.value)
    assert message.startswith("cluster.toml: key 'model': unknown model 'llama-4-400b'")
    assert all(name in message for name in model_table())


def test_model_facts_and_derived_sizes():
    m = model_spec(LLAMA_70B, "test")
    assert (m.layers, m.hidden_size, m.attention_heads, m.kv_heads, m.head_dim) == (80, 8192, 64, 8, 128)
    assert m.source
    assert m.weight_bytes() == 2 * 70_553_706_496
    assert m.kv_bytes_per_token() == 2 * 80 * 8 * 128 * 2 == 327_680
    assert m.kv_bytes_per_token(dtype_bytes=1) == 163_840
    # The input embedding (128256 x 8192) is looked up, not multiplied.
    assert m.flops_per_token == 2 * (70_553_706_496 - 128_256 * 8192)
    assert m.attention_flops_per_token_sq == 2 * 80 * 64 * 128


def test_every_model_has_a_source_and_all_four_are_there():
    assert {
        "meta-llama/Llama-3.1-8B-Instruct",
        LLAMA_70B,
        "meta-llama/Llama-2-70b-hf",
        "Qwen/Qwen2.5-72B-Instruct",
    } <= set(model_table())
    assert all("huggingface.co" in m.source for m in model_table().values())


def test_bad_model_table_names_file_key_and_value(tmp_path):
    text = (
        '["x/y"]\nparameters = 10\nlayers = 0\nhidden_size = 4\nintermediate_size = 8\nattention_heads = 1\n'
        'kv_heads = 1\nhead_dim = 4\nvocab_size = 2\nmax_context = 16\nsource = "made up"\n'
    )
    path = tmp_path / "models.toml"
    path.write_text(text)
    with pytest.raises(InputError) as err:
        model_table(path)
    assert str(path) in str(err.value) and "'x/y.layers'" in str(err.value) and "got 0" in str(err.value)
    path.write_text(text.replace("layers = 0", "layers = 2\nexperts = 8"))
    with pytest.raises(InputError, match="'x/y.experts': unknown key"):
        model_table(path)


def test_gpu_aliases_and_datasheet_numbers():
    assert canonical_gpu("a100", "test") == "A100-80GB"
    assert canonical_gpu("H100", "test") == "H100-80GB"
    assert canonical_gpu("l40", "test") == "L40S"
    assert set(gpu_table()) == {"A100-40GB", "A100-80GB", "H100-80GB", "H200", "A6000", "L40S", "A40", "L4", "A10G"}
    h100 = gpu_spec("H100", "test")
    # Dense, not the datasheet's sparse 1,979 TFLOP/s.
    assert (h100.bf16_tflops, h100.hbm_gbs, h100.interconnect_gbs) == (989.4, 3350, 900)
    assert all(g.source and g.interconnect for g in gpu_table().values())


def test_kv_capacity_llama_70b_on_4_a100_80gb():
    # 4 GPUs x 80 GiB x 0.9 = 288 GiB; minus 4 x 2 GiB reserve = 280 GiB = 300,647,710,720 bytes;
    # minus 70,553,706,496 x 2 = 141,107,412,992 bytes of weights = 159,540,297,728 bytes;
    # / 327,680 bytes per token = 486,878.07 -> 486,878 tokens.
    m, g = model_spec(LLAMA_70B, "test"), gpu_spec("A100-80GB", "test")
    assert 280 * GIB - 141_107_412_992 == 159_540_297_728
    assert kv_capacity_tokens(m, g, 4) == 486_878


def test_kv_capacity_llama_8b_on_1_l4():
    # 24 GiB x 0.9 = 21.6 GiB = 23,192,823,398.4 bytes; minus 2 GiB = 2,147,483,648 reserve and
    # 8,030,261,248 x 2 = 16,060,522,496 bytes of weights = 4,984,817,254.4 bytes;
    # / (2 x 32 layers x 8 KV heads x 128 dims x 2 bytes = 131,072) = 38,031.1 -> 38,031 tokens.
    m, g = model_spec("Llama-3.1-8B", "test"), gpu_spec("L4", "test")
    assert m.kv_bytes_per_token() == 131_072
    assert kv_capacity_tokens(m, g, 1) == 38_031
    # Half the utilisation leaves less than the weights: no KV cache at all.
    assert kv_capacity_tokens(m, g, 1, gpu_memory_utilization=0.5) == 0


def test_kv_capacity_grows_with_utilisation_and_shrinks_with_reserve():
    m, g = model_spec(LLAMA_70B, "test"), gpu_spec("A100-80GB", "test")
    # One more GiB of reserve per GPU costs 4 GiB / 327,680 bytes = 13,107.2 tokens.
    assert kv_capacity_tokens(m, g, 4) - kv_capacity_tokens(m, g, 4, activation_reserve_gib=3.0) in (13_107, 13_108)
    assert kv_capacity_tokens(m, g, 4, gpu_memory_utilization=0.95) > kv_capacity_tokens(m, g, 4)


def test_smallest_tp_of_llama_70b():
    m = model_spec(LLAMA_70B, "test")
    # A100-80GB: TP 2 leaves 2 x 80 x 0.9 - 4 = 140 GiB = 150,323,855,360 bytes - 141,107,412,992 of weights
    # = 9,216,442,368 bytes / 327,680 = 28,126 tokens, less than one 131,072-token context; TP 4 leaves 486,878.
    a100 = gpu_spec("A100-80GB", "test")
    assert kv_capacity_tokens(m, a100, 2) == 28_126
    assert smallest_tp(m, a100) == 4
    # H200: TP 1 holds 141 x 0.9 - 2 = 124.9 GiB = 134.1 GB < 141.1 GB of weights; TP 2 leaves
    # 249.8 GiB = 268,220,809,216 bytes - 141,107,412,992 = 127,113,396,224 / 327,680 = 387,918 tokens.
    h200 = gpu_spec("H200", "test")
    assert kv_capacity_tokens(m, h200, 1) == 0
    assert kv_capacity_tokens(m, h200, 2) == 387_918
    assert smallest_tp(m, h200) == 2
    # L4: even 8 x 24 x 0.9 - 16 = 156.8 GiB leaves only 83,176 tokens after the weights.
    with pytest.raises(InputError) as err:
        smallest_tp(m, gpu_spec("L4", "test"), "cluster.toml: instances[0]")
    assert str(err.value).startswith("cluster.toml: instances[0]: ")
    assert LLAMA_70B in str(err.value) and "8 x L4" in str(err.value) and "83176" in str(err.value)


def test_smallest_tp_of_small_and_short_context_models():
    assert smallest_tp(model_spec("Llama-3.1-8B", "test"), gpu_spec("A100-80GB", "test")) == 1
    # 38,031 tokens on one L4 is less than a 131,072-token context: two L4s.
    assert smallest_tp(model_spec("Llama-3.1-8B", "test"), gpu_spec("L4", "test")) == 2
    # Llama-2's 4,096-token context fits beside the weights on two A100-80GB.
    assert smallest_tp(model_spec("llama2-70b", "test"), gpu_spec("A100-80GB", "test")) == 2
