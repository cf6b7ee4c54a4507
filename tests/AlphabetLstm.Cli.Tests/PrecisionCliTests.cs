using AlphabetLstm.Core;
using AlphabetLstm.Tutorial;
using System.Text.Json;
using AlphabetLstm.Onnx;

namespace AlphabetLstm.Cli.Tests;

/// <summary>
/// <c>--precision</c> on the command line: parsed in one place, carried into the run's configuration,
/// the model file, the checkpoint and the run's JSON; a resume goes on in the checkpoint's precision.
/// And a float32 model's trip through ONNX (float32 itself) keeps every bit.
/// </summary>
public class PrecisionCliTests
{
    private static string Repeat(string s, int n) => string.Concat(Enumerable.Repeat(s, n));

    private static JsonElement Root(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        return doc.RootElement.Clone();
    }

    [Theory]
    [InlineData("train", "stateful", "--save", "m.json")]
    [InlineData("train", "--text", "t.txt", "--save", "m.json")]
    [InlineData("experiment", "stateful", "--no-report")]
    [InlineData("resume", "ck")]
    public void A_precision_that_is_not_one_of_the_choices_is_a_usage_error_naming_the_value_and_the_choices(params string[] args)
    {
        using var dir = new TempFolder();
        foreach (var bad in new[] { "float16", "Float32", "double", "" })
        {
            var r = CliProcess.Run(dir.Path, [.. args, "--precision", bad]);
            CliProcess.AssertCleanError(r, 2, $"--precision expects float32 or float64, got '{bad}'");
        }
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void An_experiment_trains_and_saves_in_float64_unless_told_and_in_float32_when_told()
    {
        using var dir = new TempFolder();
        var plain = CliProcess.Run(dir.Path, "train", "stateful", "--epochs", "2", "--units", "4", "--save", "m64.json", "--quiet");
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        var m64 = Root(dir["m64.json"]);
        Assert.Equal(2, m64.GetProperty("version").GetInt32());
        Assert.False(m64.TryGetProperty("precision", out _));

        var f32 = CliProcess.Run(dir.Path, "train", "stateful", "--epochs", "2", "--units", "4", "--save", "m32.json", "--quiet",
                                 "--precision", "float32", "--checkpoint", "ck");
        Assert.True(f32.ExitCode == 0, f32.Stderr);
        Assert.Contains(", float32", f32.Stdout);
        var model = SavedModel.Parse(File.ReadAllText(dir["m32.json"]));
        Assert.Equal(Precision.Float32, model.Precision);
        Assert.Equal(4, Root(dir["m32.json"]).GetProperty("version").GetInt32());
        foreach (var block in model.Parameters.Blocks())
            foreach (var x in block.Values) Assert.Equal((double)(float)x, x);
        var checkpoint = Checkpoint.Parse(File.ReadAllText(Path.Combine(dir["ck"], "checkpoint.json")));
        Assert.Equal(Precision.Float32, checkpoint.Run.Precision);
        Assert.Equal(Precision.Float32, CheckpointFile.Resume(checkpoint).Config.Precision);
    }

    [Fact]
    public void A_text_run_trains_in_float32_unless_told_and_its_json_says_which()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Repeat("one two three four five. ", 6));
        string[] train = ["train", "--text", "t.txt", "--epochs", "2", "--units", "4", "--window", "4", "--quiet"];
        var plain = CliProcess.Run(dir.Path, [.. train, "--save", "m32.json", "--json", "r32.json"]);
        Assert.True(plain.ExitCode == 0, plain.Stderr);
        Assert.Contains(", float32", plain.Stdout);
        Assert.Equal("float32", Root(dir["m32.json"]).GetProperty("precision").GetString());
        Assert.Equal("float32", Root(dir["r32.json"]).GetProperty("settings").GetProperty("precision").GetString());

        var wide = CliProcess.Run(dir.Path, [.. train, "--save", "m64.json", "--json", "r64.json", "--precision", "float64"]);
        Assert.True(wide.ExitCode == 0, wide.Stderr);
        Assert.False(Root(dir["m64.json"]).TryGetProperty("precision", out _));
        Assert.Equal(Precision.Float64, SavedModel.Parse(File.ReadAllText(dir["m64.json"])).Precision);
        Assert.Equal("float64", Root(dir["r64.json"]).GetProperty("settings").GetProperty("precision").GetString());
    }

    [Fact]
    public void Experiment_json_names_float32_and_leaves_the_tutorial_float64_unnamed()
    {
        using var dir = new TempFolder();
        string[] run = ["experiment", "one-char", "--epochs", "2", "--units", "3", "--quiet", "--no-report", "--jobs", "1"];
        var f32 = CliProcess.Run(dir.Path, [.. run, "--json", "r32.json", "--precision", "float32"]);
        Assert.True(f32.ExitCode == 0, f32.Stderr);
        Assert.Equal("float32", Root(dir["r32.json"]).GetProperty("settings").GetProperty("precision").GetString());
        var f64 = CliProcess.Run(dir.Path, [.. run, "--json", "r64.json", "--precision", "float64"]);
        Assert.True(f64.ExitCode == 0, f64.Stderr);
        Assert.False(Root(dir["r64.json"]).GetProperty("settings").TryGetProperty("precision", out _));
        var runs = ResultsJson.Parse("r32.json", File.ReadAllText(dir["r32.json"])).Runs;
        Assert.Contains("; trained in float32;", Report.Markdown(runs, 1.0, "", "float32"));
        Assert.DoesNotContain("trained in", Report.Markdown(runs, 1.0));
        // Shards of different precisions do not merge.
        var merge = CliProcess.Run(dir.Path, "merge", "r64.json", "r32.json", "--json", "merged.json");
        Assert.NotEqual(0, merge.ExitCode);
        Assert.Contains("precision float32 vs float64", merge.Stderr);
    }

    [Fact]
    public void An_experiment_plan_in_float32_trains_every_run_with_a_float32_configuration()
    {
        var settings = new ResultsJson.SettingsDto(["one-char", "stateful"], [1, 2], false, Epochs: 1, Units: 2, Precision: "float32");
        var plan = new ExperimentPlan(settings);
        Assert.All(plan.Runs, r => Assert.Equal(Precision.Float32, r.Precision));
        var run = plan.Runs[0];
        Assert.Equal(Precision.Float32, ExperimentRunner.Run(run.Spec, run.Seed, precision: run.Precision).Result.Config.Precision);
        Assert.All(new ExperimentPlan(settings with { Precision = null }).Runs, r => Assert.Equal(Precision.Float64, r.Precision));
        var bad = Assert.Throws<FailureException>(() => new ExperimentPlan(settings with { Precision = "float16" }));
        Assert.Contains("settings.precision: expected \"float32\" or \"float64\", found \"float16\"", bad.Message);
    }

    [Fact]
    public void A_resume_naming_another_precision_than_the_checkpoint_is_refused_in_one_line_and_the_same_one_goes_on()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["t.txt"], Repeat("one two three four five. ", 6));
        var t = CliProcess.Run(dir.Path, "train", "--text", "t.txt", "--epochs", "3", "--units", "4", "--window", "4",
                               "--save", "m.json", "--checkpoint", "ck", "--checkpoint-every", "1", "--quiet");
        Assert.True(t.ExitCode == 0, t.Stderr);
        var file = Path.Combine(dir["ck"], "checkpoint.json");
        Assert.Contains("\"precision\": \"float32\" }", File.ReadAllText(file));
        // Back to epoch 1 of 3, as a run killed there would have left it: a resume has work to do.
        File.WriteAllText(file, CheckpointFile.Seal(File.ReadAllText(file).Replace("\"epochs\": 3,", "\"epochs\": 4,")));
        var before = File.ReadAllText(file);
        var model = File.ReadAllText(dir["m.json"]);

        var other = CliProcess.Run(dir.Path, "resume", "ck", "--precision", "float64", "--quiet");
        CliProcess.AssertCleanError(other, 1, "--precision float64", "trains in float32");
        Assert.Equal(before, File.ReadAllText(file));
        Assert.Equal(model, File.ReadAllText(dir["m.json"]));

        var same = CliProcess.Run(dir.Path, "resume", "ck", "--precision", "float32", "--quiet");
        Assert.True(same.ExitCode == 0, same.Stderr);
        Assert.Equal(4, Checkpoint.Parse(File.ReadAllText(file)).State.Epoch);
        Assert.Equal(Precision.Float32, SavedModel.Parse(File.ReadAllText(dir["m.json"])).Precision);
    }

    [Fact]
    public void A_float32_model_exported_to_ONNX_and_imported_back_has_the_same_bits()
    {
        var random = new RandomModels(seed: 404);
        for (var n = 0; n < 20; n++)
        {
            int H = random.Next(1, 5), V = random.Next(2, 6), T = random.Next(1, 4), I = random.Next(1, 4);
            var wide = random.Model(I, H, V, T, layers: 1 + n % 3);
            var model = SavedModel.Create(wide.Vocabulary, wide.Input, wide.Parameters, Precision.Float32);
            var back = OnnxModel.Import(OnnxModel.Export(model), new ImportOptions());
            var ours = model.Parameters.Blocks();
            var theirs = back.Parameters.Blocks();
            Assert.Equal(ours.Length, theirs.Length);
            for (var b = 0; b < ours.Length; b++)
                for (var k = 0; k < ours[b].Values.Length; k++)
                    Assert.True(BitConverter.DoubleToInt64Bits(ours[b].Values[k]) == BitConverter.DoubleToInt64Bits(theirs[b].Values[k]),
                                $"case {n}, {ours[b].Name}[{k}]: {ours[b].Values[k]:R} came back as {theirs[b].Values[k]:R}");
        }
    }
}
