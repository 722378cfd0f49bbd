// The Lake contract (see lake_contract.h).
#include "ctml/store/lake_contract.h"

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include <cmath>
#include <limits>
#include <set>

namespace ctml::store::testing {

std::shared_ptr<arrow::Table> OneColumn(int64_t v) {
  arrow::Int64Builder b;
  EXPECT_TRUE(b.Append(v).ok());
  std::shared_ptr<arrow::Array> a;
  EXPECT_TRUE(b.Finish(&a).ok());
  return arrow::Table::Make(arrow::schema({arrow::field("x", arrow::int64())}), {a});
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// subject (string), seq (int64), value (double with NaN and null), at (timestamp[us, UTC]).
std::shared_ptr<arrow::Table> SampleTable(int64_t first, int64_t n) {
  arrow::StringBuilder subject;
  arrow::Int64Builder seq;
  arrow::DoubleBuilder value;
  arrow::TimestampBuilder at(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"),
                             arrow::default_memory_pool());
  for (int64_t i = first; i < first + n; ++i) {
    EXPECT_TRUE(subject.Append("S" + std::to_string(i % 3)).ok());
    EXPECT_TRUE(seq.Append(i).ok());
    if (i % 5 == 1) {
      EXPECT_TRUE(value.Append(kNaN).ok());
    } else if (i % 5 == 2) {
      EXPECT_TRUE(value.AppendNull().ok());
    } else {
      EXPECT_TRUE(value.Append(i * 1.5).ok());
    }
    EXPECT_TRUE(at.Append(1709280000000000LL + i * 1000003).ok());
  }
  auto schema =
      arrow::schema({arrow::field("subject", arrow::utf8()), arrow::field("seq", arrow::int64()),
                     arrow::field("value", arrow::float64()),
                     arrow::field("at", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
  std::vector<std::shared_ptr<arrow::Array>> cols(4);
  EXPECT_TRUE(subject.Finish(&cols[0]).ok());
  EXPECT_TRUE(seq.Finish(&cols[1]).ok());
  EXPECT_TRUE(value.Finish(&cols[2]).ok());
  EXPECT_TRUE(at.Finish(&cols[3]).ok());
  return arrow::Table::Make(schema, cols);
}

bool SameData(const arrow::Table& a, const arrow::Table& b) {
  return a.Equals(b, arrow::EqualOptions::Defaults().nans_equal(true));
}

std::shared_ptr<arrow::ChunkedArray> Column(const arrow::Table& t, const std::string& name) {
  auto c = t.GetColumnByName(name);
  EXPECT_NE(c, nullptr) << "missing column " << name;
  return c;
}

TEST_P(LakeContract, ParquetRoundTripKeepsTypesNaNAndNulls) {
  CTML_TEST_ASSIGN(auto lake, Open());
  auto table = SampleTable(0, 20);
  CTML_TEST_OK(lake->WriteParquet("silver/vitals/part-0.parquet", table));
  CTML_TEST_ASSIGN(auto back, lake->ReadParquet("silver/vitals/part-0.parquet"));
  ASSERT_EQ(back->num_rows(), 20);
  EXPECT_TRUE(back->schema()->Equals(*table->schema(), /*check_metadata=*/false))
      << back->schema()->ToString();
  EXPECT_TRUE(SameData(*back, *table));
  auto value = std::static_pointer_cast<arrow::DoubleArray>(Column(*back, "value")->chunk(0));
  EXPECT_TRUE(std::isnan(value->Value(1)));
  EXPECT_TRUE(value->IsValid(1));
  EXPECT_TRUE(value->IsNull(2));
}

TEST_P(LakeContract, ReadParquetColumnsReadsOnlyThoseColumnsAndKeepsTheRowCount) {
  CTML_TEST_ASSIGN(auto lake, Open());
  auto table = SampleTable(0, 40);
  CTML_TEST_OK(lake->WriteParquet("c/part-0.parquet", table));
  CTML_TEST_ASSIGN(auto two,
                   lake->ReadParquetColumns("c/part-0.parquet", {"value", "nope", "seq"}));
  ASSERT_EQ(two->num_columns(), 2);
  EXPECT_EQ(two->num_rows(), 40);
  EXPECT_TRUE(Column(*two, "seq")->Equals(*table->GetColumnByName("seq")));
  EXPECT_EQ(two->GetColumnByName("subject"), nullptr);
  CTML_TEST_ASSIGN(auto none, lake->ReadParquetColumns("c/part-0.parquet", {}));
  EXPECT_EQ(none->num_columns(), 0);
  EXPECT_EQ(none->num_rows(), 40);
  EXPECT_EQ(lake->ReadParquetColumns("c/absent.parquet", {"seq"}).status().code(),
            StatusCode::kNotFound);
}

TEST_P(LakeContract, ParquetIsZstdCompressed) {
  CTML_TEST_ASSIGN(auto lake, Open());
  CTML_TEST_OK(lake->WriteParquet("t/part.parquet", SampleTable(0, 50)));
  CTML_TEST_ASSIGN(auto bytes, lake->GetBytes("t/part.parquet"));
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 4), "PAR1");
  auto reader = parquet::ParquetFileReader::Open(
      std::make_shared<arrow::io::BufferReader>(arrow::Buffer::FromString(bytes)));
  auto meta = reader->metadata();
  ASSERT_GE(meta->num_row_groups(), 1);
  for (int c = 0; c < meta->num_columns(); ++c) {
    EXPECT_EQ(meta->RowGroup(0)->ColumnChunk(c)->compression(), parquet::Compression::ZSTD);
  }
}

TEST_P(LakeContract, WriteOverwritesAnExistingFile) {
  CTML_TEST_ASSIGN(auto lake, Open());
  CTML_TEST_OK(lake->WriteParquet("d/part-0.parquet", SampleTable(0, 10)));
  auto second = SampleTable(100, 3);
  CTML_TEST_OK(lake->WriteParquet("d/part-0.parquet", second));
  CTML_TEST_ASSIGN(auto back, lake->ReadParquet("d/part-0.parquet"));
  EXPECT_TRUE(SameData(*back, *second));
  CTML_TEST_ASSIGN(auto files, lake->List("d"));
  ASSERT_EQ(files.size(), 1u);  // no temporary file left behind
  EXPECT_EQ(files[0].path, "d/part-0.parquet");
}

TEST_P(LakeContract, ReadDatasetAddsHivePartitionColumns) {
  CTML_TEST_ASSIGN(auto lake, Open());
  CTML_TEST_OK(
      lake->WriteParquet("bronze/vital_signs/date=2024-03-01/part-a.parquet", SampleTable(0, 4)));
  CTML_TEST_OK(
      lake->WriteParquet("bronze/vital_signs/date=2024-03-01/part-b.parquet", SampleTable(4, 2)));
  CTML_TEST_OK(
      lake->WriteParquet("bronze/vital_signs/date=2024-03-02/part-a.parquet", SampleTable(6, 5)));
  CTML_TEST_OK(
      lake->WriteParquet("bronze/other/date=2024-03-02/part-a.parquet", SampleTable(0, 7)));
  CTML_TEST_ASSIGN(auto all, lake->ReadDataset("bronze/vital_signs"));
  ASSERT_EQ(all->num_rows(), 11);
  auto date = Column(*all, "date");
  ASSERT_NE(date, nullptr);
  EXPECT_TRUE(date->type()->Equals(arrow::utf8()));
  auto seq = Column(*all, "seq");
  ASSERT_NE(seq, nullptr);
  std::set<std::pair<int64_t, std::string>> rows;
  for (int64_t i = 0; i < all->num_rows(); ++i) {
    auto d = date->GetScalar(i).ValueOrDie();
    auto s = seq->GetScalar(i).ValueOrDie();
    rows.emplace(std::static_pointer_cast<arrow::Int64Scalar>(s)->value,
                 std::static_pointer_cast<arrow::StringScalar>(d)->value->ToString());
  }
  for (int64_t i = 0; i < 11; ++i) {
    EXPECT_EQ(rows.count({i, i < 6 ? "2024-03-01" : "2024-03-02"}), 1u) << "seq " << i;
  }
  // The original columns keep their types.
  EXPECT_TRUE(Column(*all, "at")->type()->Equals(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")));
}

TEST_P(LakeContract, ReadDatasetHandlesNestedPartitionsAndNewColumns) {
  CTML_TEST_ASSIGN(auto lake, Open());
  CTML_TEST_OK(lake->WriteParquet("q/table=vitals/date=2024-03-01/p.parquet", SampleTable(0, 2)));
  auto wider = SampleTable(2, 3);
  auto reason = arrow::MakeArrayFromScalar(arrow::StringScalar("unit_unknown"), 3).ValueOrDie();
  wider = wider
              ->AddColumn(wider->num_columns(), arrow::field("reason_code", arrow::utf8()),
                          std::make_shared<arrow::ChunkedArray>(reason))
              .ValueOrDie();
  CTML_TEST_OK(lake->WriteParquet("q/table=labs/date=2024-03-02/p.parquet", wider));
  CTML_TEST_ASSIGN(auto all, lake->ReadDataset("q"));
  ASSERT_EQ(all->num_rows(), 5);
  ASSERT_NE(Column(*all, "table"), nullptr);
  ASSERT_NE(Column(*all, "date"), nullptr);
  auto rc = Column(*all, "reason_code");
  ASSERT_NE(rc, nullptr);
  EXPECT_EQ(rc->null_count(), 2);  // rows of the narrower file
}

TEST_P(LakeContract, MissingThingsAreNotFound) {
  CTML_TEST_ASSIGN(auto lake, Open());
  EXPECT_EQ(lake->ReadDataset("nothing/here").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(lake->ReadParquet("nothing/here.parquet").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(lake->GetBytes("nothing/here.json").status().code(), StatusCode::kNotFound);
  CTML_TEST_ASSIGN(auto files, lake->List("nothing"));
  EXPECT_TRUE(files.empty());
  CTML_TEST_OK(lake->PutBytes("only/notes.txt", "not parquet"));
  EXPECT_EQ(lake->ReadDataset("only").status().code(), StatusCode::kNotFound);
}

TEST_P(LakeContract, ListIsRecursiveSortedAndRelative) {
  CTML_TEST_ASSIGN(auto lake, Open());
  CTML_TEST_OK(lake->PutBytes("models/m/2/manifest.json", "{}"));
  CTML_TEST_OK(lake->PutBytes("models/m/10/manifest.json", "{\"v\":10}"));
  CTML_TEST_OK(lake->WriteParquet("models/m/1/data.parquet", SampleTable(0, 1)));
  CTML_TEST_OK(lake->PutBytes("other/x.bin", "x"));
  CTML_TEST_ASSIGN(auto files, lake->List("models/m"));
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].path, "models/m/1/data.parquet");
  EXPECT_EQ(files[1].path, "models/m/10/manifest.json");
  EXPECT_EQ(files[2].path, "models/m/2/manifest.json");
  EXPECT_EQ(files[1].size, 8);
  EXPECT_GT(files[0].size, 0);
  CTML_TEST_ASSIGN(auto everything, lake->List(""));
  EXPECT_EQ(everything.size(), 4u);
}

TEST_P(LakeContract, BytesPutGetDelete) {
  CTML_TEST_ASSIGN(auto lake, Open());
  std::string blob("\x00\x01model\xff", 8);
  CTML_TEST_OK(lake->PutBytes("models/vitals_risk/1/model.ubj", blob));
  CTML_TEST_ASSIGN(auto got, lake->GetBytes("models/vitals_risk/1/model.ubj"));
  EXPECT_EQ(got, blob);
  CTML_TEST_OK(lake->PutBytes("models/vitals_risk/1/model.ubj", "v2"));
  CTML_TEST_ASSIGN(auto got2, lake->GetBytes("models/vitals_risk/1/model.ubj"));
  EXPECT_EQ(got2, "v2");
  CTML_TEST_OK(lake->PutBytes("empty", ""));
  CTML_TEST_ASSIGN(auto empty, lake->GetBytes("empty"));
  EXPECT_EQ(empty, "");
  CTML_TEST_OK(lake->Delete("models/vitals_risk/1/model.ubj"));
  EXPECT_EQ(lake->GetBytes("models/vitals_risk/1/model.ubj").status().code(),
            StatusCode::kNotFound);
  CTML_TEST_OK(lake->Delete("models/vitals_risk/1/model.ubj"));  // absent: still OK
}

TEST_P(LakeContract, RejectsPathsEscapingTheRoot) {
  CTML_TEST_ASSIGN(auto lake, Open());
  EXPECT_EQ(lake->PutBytes("../escape.txt", "x").code(), StatusCode::kInvalid);
  EXPECT_EQ(lake->GetBytes("a/../../b").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(lake->WriteParquet("", SampleTable(0, 1)).code(), StatusCode::kInvalid);
}

TEST_P(LakeContract, PingAndUri) {
  CTML_TEST_ASSIGN(auto lake, Open());
  CTML_TEST_OK(lake->Ping());
  EXPECT_FALSE(lake->uri().empty());
}

TEST_P(LakeContract, AnotherInstanceReadsWhatOneWrote) {
  CTML_TEST_ASSIGN(auto writer, Open());
  CTML_TEST_ASSIGN(auto reader, Open());
  auto t = SampleTable(0, 6);
  CTML_TEST_OK(writer->WriteParquet("shared/date=2024-01-01/p.parquet", t));
  CTML_TEST_ASSIGN(auto back, reader->ReadParquet("shared/date=2024-01-01/p.parquet"));
  EXPECT_TRUE(SameData(*back, *t));
}

}  // namespace
}  // namespace ctml::store::testing
